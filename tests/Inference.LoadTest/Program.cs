using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

// Submits inference requests to a running server and follows each one to its final state.
//
//   dotnet run -c Release --project tests/Inference.LoadTest -- --url http://127.0.0.1:5080 --key <api key>
//       [--requests 200] [--concurrency 16] [--inputs 1] [--words 12]
//
// Prints accepted/s, completed/s and latency percentiles for the 202 and for the whole life of a request.
var options = LoadOptions.Parse(args);
using var http = new HttpClient { BaseAddress = options.Url, Timeout = TimeSpan.FromMinutes(5) };
http.DefaultRequestHeaders.Authorization = new("Bearer", options.Key);

var sentence = string.Join(' ', Enumerable.Range(0, options.Words).Select(i => $"word{i % 7}"));
var submitLatencies = new List<double>();
var totalLatencies = new List<double>();
var outcomes = new Dictionary<string, int>();
var gate = new object();
var next = 0;

var clock = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(async _ =>
{
    while (Interlocked.Increment(ref next) <= options.Requests)
    {
        var started = clock.Elapsed;
        var inputs = Enumerable.Range(0, options.Inputs).Select(i => $"{sentence} {i}").ToArray();
        using var response = await http.PostAsJsonAsync("/v1/inferences", new { model = "all-minilm-l6-v2", input = inputs });
        var accepted = clock.Elapsed;
        var outcome = response.StatusCode == HttpStatusCode.Accepted
            ? await FollowAsync(http, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!)
            : $"http_{(int)response.StatusCode}";
        lock (gate)
        {
            submitLatencies.Add((accepted - started).TotalMilliseconds);
            totalLatencies.Add((clock.Elapsed - started).TotalMilliseconds);
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }
    }
}));
var elapsed = clock.Elapsed.TotalSeconds;

Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{options.Requests} requests x {options.Inputs} input(s) of {options.Words} words, concurrency {options.Concurrency}, {elapsed:F1} s"));
Console.WriteLine(string.Join(", ", outcomes.Select(o => $"{o.Key}: {o.Value}")));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"completed/s: {options.Requests / elapsed:F1}   inputs/s: {options.Requests * options.Inputs / elapsed:F1}"));
Console.WriteLine($"POST (202) ms   {Percentiles(submitLatencies)}");
Console.WriteLine($"to final ms     {Percentiles(totalLatencies)}");

static async Task<string> FollowAsync(HttpClient http, string id)
{
    while (true)
    {
        // A 202 given before the orchestrator stored the request (it answered after Api:QuotaDecisionTimeout, or is
        // down) is a 404 until the row exists.
        using var response = await http.GetAsync($"/v1/inferences/{id}");
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            var inference = await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
            var status = inference.GetProperty("status").GetString()!;
            if (status is "completed" or "failed" or "canceled")
                return status == "failed" ? $"failed_{inference.GetProperty("error").GetProperty("code").GetString()}" : status;
        }

        await Task.Delay(20);
    }
}

static string Percentiles(List<double> values)
{
    values.Sort();
    double At(double p) => values[Math.Min(values.Count - 1, (int)(p * values.Count))];
    return string.Create(CultureInfo.InvariantCulture, $"p50 {At(0.50):F0}  p95 {At(0.95):F0}  p99 {At(0.99):F0}  max {values[^1]:F0}");
}

internal sealed record LoadOptions(Uri Url, string Key, int Requests, int Concurrency, int Inputs, int Words)
{
    public static LoadOptions Parse(string[] args)
    {
        string Value(string name, string? fallback) =>
            args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback
            ?? throw new ArgumentException($"{name} is required.");
        int Number(string name, int fallback) => int.Parse(Value(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

        return new(new Uri(Value("--url", "http://127.0.0.1:5080")), Value("--key", null), Number("--requests", 200),
            Number("--concurrency", 16), Number("--inputs", 1), Number("--words", 12));
    }
}
