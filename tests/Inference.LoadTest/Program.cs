using Inference.LoadTest;

// Submits inference requests to a running server, as clients would, and checks what they were answered.
//
//   dotnet run -c Release --project tests/Inference.LoadTest -- --url http://127.0.0.1:5080 --key <api key>
//       [--requests 200] [--concurrency 16] [--inputs 1] [--words 12]
//       [--bad-inputs 0.1] [--cancel-share 0.2] [--cancel-after-share 0.1] [--report path.json]
//       [--follow-timeout 60] [--final-timeout 180] [--retry-patience 180] [--request-timeout 60]
//
// Each client POSTs, follows an accepted request until it is final (at most --follow-timeout seconds), and goes on with
// the next. A share of --bad-inputs of the requests carry a hostile input (NUL, another control character, a lone
// surrogate, bytes that are not UTF-8), which the API must refuse with 400 and that input's code. A 503 `unavailable`
// with Retry-After is sent again after the wait (for up to --retry-patience seconds); any other 5xx and any connection
// failure is a failure. A share of --cancel-share of the ordinary requests is canceled (POST .../cancel) after a random
// delay of up to 2.5 s, the answer counted; another share of --cancel-after-share is sent with a Cancel-After of 1 to 3
// seconds. At the end every request answered 202 is read again until it is final (for up to --final-timeout
// seconds, through outages). Prints a summary; --report also writes every count, the accepted ids and the latency
// percentiles as JSON. Exits 0 whatever the server did: the report says what happened, callers judge.
//
//   dotnet run -c Release --project tests/Inference.LoadTest -- subscribe --rabbitmq amqp://user:password@host/vhost
//       --out events.tsv [--queue load-test-outcomes]
//
// records the outcome events (InferenceCompleted, InferenceFailed, InferenceCanceled) on a durable queue of its own, one
// line per delivery, until SIGTERM: see OutcomeSubscriber.
if (args.Length > 0 && args[0] == "subscribe")
    return await OutcomeSubscriber.RunAsync(args[1..]);

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
