using Inference.LoadTest;

// Submits inference requests to a running server, as clients would, and checks what they were answered.
//
//   dotnet run -c Release --project tests/Inference.LoadTest -- --url http://127.0.0.1:5080 --key <api key>
//       [--requests 200] [--concurrency 16] [--inputs 1] [--words 12]
//       [--bad-inputs 0.1] [--report path.json]
//       [--follow-timeout 60] [--final-timeout 180] [--retry-patience 180] [--request-timeout 60]
//
// Each client POSTs, follows an accepted request until it is final (at most --follow-timeout seconds), and goes on with
// the next. A share of --bad-inputs of the requests carry a hostile input (NUL, another control character, a lone
// surrogate, bytes that are not UTF-8), which the API must refuse with 400 and that input's code. A 503 `unavailable`
// with Retry-After is sent again after the wait (for up to --retry-patience seconds); any other 5xx and any connection
// failure is a failure. At the end every request answered 202 is read again until it is final (for up to --final-timeout
// seconds, through outages). Prints a summary; --report also writes every count, the accepted ids and the latency
// percentiles as JSON. Exits 0 whatever the server did: the report says what happened, callers judge.
LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (Exception exception) when (exception is ArgumentException or FormatException)
{
    Console.Error.WriteLine(exception.Message);
    return 2;
}

using var http = new HttpClient { BaseAddress = options.Url, Timeout = options.RequestTimeout };
http.DefaultRequestHeaders.Authorization = new("Bearer", options.Key);

var report = await new LoadRun(http, options).RunAsync();
report.Print(Console.Out);
if (options.ReportPath is { } path)
    await report.WriteAsync(path);
return 0;
