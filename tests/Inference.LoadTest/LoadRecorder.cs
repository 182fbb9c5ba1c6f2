using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Inference.LoadTest;

/// <summary>Everything the clients saw, counted as it happens, and the report made of it.</summary>
internal sealed class LoadRecorder
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _postAnswers = [];
    private readonly Dictionary<string, int> _otherServerErrors = [];
    private readonly Dictionary<string, int> _connectionErrors = [];
    private readonly Dictionary<string, int> _getErrors = [];
    private readonly Dictionary<string, int> _refusedOutcomes = [];
    private readonly Dictionary<string, int> _badInputMismatches = [];
    private readonly Dictionary<string, int> _acceptedBadInputs = [];
    private readonly Dictionary<Guid, AcceptedRequest> _accepted = [];
    private readonly List<Guid> _acceptedInOrder = [];
    private readonly HashSet<Guid> _notFoundAfterAccepted = [];
    private readonly Dictionary<string, int> _cancelAnswers = [];
    private readonly Dictionary<Guid, string> _cancelAnswerOf = [];
    private int _cancelAfterSent;

    /// <summary>Submissions that went wrong on the POST: an ordinary one not accepted, a hostile one not refused as it must be.</summary>
    private readonly HashSet<int> _failedSubmissions = [];
    private readonly List<double> _post = [];
    private readonly List<double> _post202 = [];
    private readonly List<double> _toFinal = [];
    private int _retried503;
    private int _badInputsSent;
    private int _badInputsAsExpected;

    public IReadOnlyList<Guid> AcceptedIds
    {
        get
        {
            lock (_gate)
                return [.. _acceptedInOrder];
        }
    }

    public void PostAnswered(string answer, double milliseconds)
    {
        lock (_gate)
        {
            _postAnswers[answer] = _postAnswers.GetValueOrDefault(answer) + 1;
            _post.Add(milliseconds);
        }
    }

    public void RetryLater()
    {
        lock (_gate)
            _retried503++;
    }

    /// <summary>A submission that ended without a 202: its outcome, and the server error or connection failure behind it.</summary>
    public void Refused(Submission submission, string outcome, string? serverError = null, string? connectionError = null)
    {
        lock (_gate)
        {
            if (submission.Kind == InputKind.Normal)
                _failedSubmissions.Add(submission.Index);
            _refusedOutcomes[outcome] = _refusedOutcomes.GetValueOrDefault(outcome) + 1;
            if (serverError is not null)
                _otherServerErrors[serverError] = _otherServerErrors.GetValueOrDefault(serverError) + 1;
            if (connectionError is not null)
                _connectionErrors[connectionError] = _connectionErrors.GetValueOrDefault(connectionError) + 1;
        }
    }

    public void BadInputAnswered(Submission submission, string answer)
    {
        lock (_gate)
        {
            _badInputsSent++;
            if (answer == $"400 {submission.ExpectedCode}")
            {
                _badInputsAsExpected++;
                return;
            }

            _failedSubmissions.Add(submission.Index);
            var mismatch = $"{submission.KindName}: {answer} (expected 400 {submission.ExpectedCode})";
            _badInputMismatches[mismatch] = _badInputMismatches.GetValueOrDefault(mismatch) + 1;
        }
    }

    public void Accepted(Guid id, Submission submission, TimeSpan submittedAt, double postMilliseconds)
    {
        lock (_gate)
        {
            _accepted[id] = new AcceptedRequest(submission, submittedAt);
            _acceptedInOrder.Add(id);
            _post202.Add(postMilliseconds);
            if (submission.Kind != InputKind.Normal)
                _acceptedBadInputs[submission.KindName] = _acceptedBadInputs.GetValueOrDefault(submission.KindName) + 1;
        }
    }

    public void CancelAfterSent()
    {
        lock (_gate)
            _cancelAfterSent++;
    }

    /// <summary>The answer to the cancel sent for an accepted request: <c>200 canceled</c>, <c>409 inference_final</c>, ...</summary>
    public void CancelAnswered(Guid id, string answer)
    {
        lock (_gate)
        {
            _cancelAnswers[answer] = _cancelAnswers.GetValueOrDefault(answer) + 1;
            _cancelAnswerOf[id] = answer;
        }
    }

    public Submission SubmissionOf(Guid id)
    {
        lock (_gate)
            return _accepted[id].Submission;
    }

    public void NotFoundAfterAccepted(Guid id)
    {
        lock (_gate)
            _notFoundAfterAccepted.Add(id);
    }

    public void GetFailed(string what)
    {
        lock (_gate)
            _getErrors[what] = _getErrors.GetValueOrDefault(what) + 1;
    }

    /// <summary>The request was seen final; <paramref name="at"/> is when, on the run's clock, for the latency.</summary>
    public void Final(Guid id, FinalState state, TimeSpan? at)
    {
        lock (_gate)
        {
            var accepted = _accepted[id];
            if (at is { } seen && accepted.Final is null)
                _toFinal.Add((seen - accepted.SubmittedAt).TotalMilliseconds);
            accepted.Final = state;
        }
    }

    public Report Report(LoadOptions options, double elapsedSeconds)
    {
        lock (_gate)
        {
            var finalByStatus = _accepted.Values.Where(a => a.Final is not null).GroupBy(a => a.Final!.Outcome)
                .ToDictionary(g => g.Key, g => g.Count());
            var notFinal = _acceptedInOrder.Where(id => _accepted[id].Final is null).ToList();
            var unreadable = _acceptedInOrder.Where(id => _accepted[id].Final is { Readable: false }).ToList();
            var outcomes = new Dictionary<string, int>(_refusedOutcomes);
            foreach (var (status, count) in finalByStatus)
                outcomes[status] = outcomes.GetValueOrDefault(status) + count;
            if (notFinal.Count > 0)
                outcomes["not_final"] = notFinal.Count;

            var failed = new HashSet<int>(_failedSubmissions);
            foreach (var id in notFinal.Concat(unreadable).Concat(_notFoundAfterAccepted))
                failed.Add(_accepted[id].Submission.Index);

            // A request canceled by its client ends canceled_canceled once the cancel was answered 200; one that was
            // canceled must have been asked to be: by a cancel not refused as final, or by its Cancel-After.
            var finalOf = (Guid id) => _accepted[id].Final?.Outcome;
            var answered200NotCanceled = _acceptedInOrder
                .Where(id => _cancelAnswerOf.GetValueOrDefault(id)?.StartsWith("200", StringComparison.Ordinal) == true
                    && finalOf(id) is { } final && final != "canceled_canceled").ToList();
            var canceledUnasked = _acceptedInOrder.Where(id => finalOf(id) switch
            {
                "canceled_canceled" => _cancelAnswerOf.GetValueOrDefault(id) is null or "409 inference_final",
                "canceled_cancel_after_elapsed" => _accepted[id].Submission.CancelAfter is null,
                { } other when other.StartsWith("canceled", StringComparison.Ordinal) => true,
                _ => false,
            }).ToList();

            return new Report(
                options.Requests, options.Concurrency, options.Inputs, options.Words, options.BadInputs, Math.Round(elapsedSeconds, 1),
                Sorted(outcomes), Sorted(_postAnswers), _retried503, Sorted(_otherServerErrors), Sorted(_connectionErrors),
                Sorted(_getErrors),
                new BadInputs(_badInputsSent, _badInputsAsExpected, Sorted(_badInputMismatches), Sorted(_acceptedBadInputs)),
                new AcceptedRequests(
                    _acceptedInOrder.Count,
                    _accepted.Values.Count(a => a.Final is { Readable: true }),
                    Sorted(finalByStatus),
                    _accepted.Values.Where(a => a.Final is { Outcome: "completed" }).Sum(a => a.Final!.TotalTokens),
                    notFinal, unreadable, [.. _acceptedInOrder.Where(_notFoundAfterAccepted.Contains)],
                    ByInput(notFinal), ByInput(_notFoundAfterAccepted)),
                new Cancels(_cancelAnswerOf.Count, Sorted(_cancelAnswers), answered200NotCanceled, _cancelAfterSent, canceledUnasked),
                failed.Count,
                new Latencies(Percentiles.Of(_post), Percentiles.Of(_post202), Percentiles.Of(_toFinal)),
                [.. _acceptedInOrder]);
        }
    }

    private static SortedDictionary<string, int> Sorted(Dictionary<string, int> counts) => new(counts, StringComparer.Ordinal);

    /// <summary>How many of these accepted requests carried each kind of input, to tell outages from hostile inputs.</summary>
    private SortedDictionary<string, int> ByInput(IEnumerable<Guid> ids) =>
        Sorted(ids.GroupBy(id => _accepted[id].Submission.KindName).ToDictionary(g => g.Key, g => g.Count()));

    private sealed class AcceptedRequest(Submission submission, TimeSpan submittedAt)
    {
        public Submission Submission { get; } = submission;

        public TimeSpan SubmittedAt { get; } = submittedAt;

        public FinalState? Final { get; set; }
    }
}

/// <summary>What a GET showed once the request was final.</summary>
/// <param name="Outcome"><c>completed</c>, <c>canceled</c>, or <c>failed_&lt;error code&gt;</c>.</param>
/// <param name="Readable">Whether the body was whole: a completed request's embeddings, one per input.</param>
/// <param name="TotalTokens">The tokens the request was charged, from its <c>usage</c>.</param>
internal sealed record FinalState(string Outcome, bool Readable, long TotalTokens);

/// <summary>What a run saw. <c>Failures</c> counts submissions that went wrong in any way: an ordinary one not accepted,
/// a hostile one not refused with its code, or an accepted one never final, unreadable, or answered 404.</summary>
internal sealed record Report(
    int Requests,
    int Concurrency,
    int Inputs,
    int Words,
    double BadInputsShare,
    double ElapsedSeconds,
    SortedDictionary<string, int> Outcomes,
    SortedDictionary<string, int> PostAnswers,
    [property: JsonPropertyName("retried_503")] int Retried503,
    SortedDictionary<string, int> OtherServerErrors,
    SortedDictionary<string, int> ConnectionErrors,
    SortedDictionary<string, int> GetErrors,
    BadInputs BadInputs,
    AcceptedRequests Accepted,
    Cancels Cancels,
    int Failures,
    Latencies LatencyMs,
    IReadOnlyList<Guid> AcceptedIds)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public async Task WriteAsync(string path)
    {
        await using var file = File.Create(path);
        await JsonSerializer.SerializeAsync(file, this, Json);
    }

    public void Print(TextWriter output)
    {
        static string Counts(IReadOnlyDictionary<string, int> counts) =>
            counts.Count == 0 ? "none" : string.Join(", ", counts.Select(c => $"{c.Key}: {c.Value}"));
        static string Ids(IReadOnlyList<Guid> ids) =>
            ids.Count == 0 ? "0" : $"{ids.Count} ({string.Join(", ", ids.Take(3))}{(ids.Count > 3 ? ", ..." : "")})";

        var inv = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(inv,
            $"{Requests} requests x {Inputs} input(s) of {Words} words, concurrency {Concurrency}, hostile inputs {BadInputsShare:P0}, {ElapsedSeconds:F1} s"));
        output.WriteLine(Counts(Outcomes));
        output.WriteLine(string.Create(inv, $"completed/s: {Outcomes.GetValueOrDefault("completed") / ElapsedSeconds:F1}"));
        output.WriteLine($"POST answers:            {Counts(PostAnswers)}");
        output.WriteLine($"503 unavailable, retried: {Retried503}");
        output.WriteLine($"other 5xx:               {Counts(OtherServerErrors)}");
        output.WriteLine($"connection errors:       {Counts(ConnectionErrors)}");
        output.WriteLine($"GET errors (retried):    {Counts(GetErrors)}");
        output.WriteLine($"hostile inputs:          {BadInputs.Sent} sent, {BadInputs.AsExpected} refused with their code; mismatches: {Counts(BadInputs.Mismatches)}");
        output.WriteLine($"accepted (202):          {Accepted.Count}, final and readable {Accepted.FinalAndReadable} ({Counts(Accepted.FinalByStatus)})");
        output.WriteLine($"    not final:           {Ids(Accepted.NotFinal)}; by input: {Counts(Accepted.NotFinalByInput)}");
        output.WriteLine($"    final, unreadable:   {Ids(Accepted.Unreadable)}");
        output.WriteLine($"    404 after 202:       {Ids(Accepted.NotFoundAfterAccepted)}; by input: {Counts(Accepted.NotFoundAfterAcceptedByInput)}");
        output.WriteLine($"cancels sent:            {Cancels.Sent}; answers: {Counts(Cancels.Answers)}");
        output.WriteLine($"    200, not canceled:   {Ids(Cancels.Answered200NotCanceled)}");
        output.WriteLine($"Cancel-After sent:       {Cancels.CancelAfterSent} (accepted)");
        output.WriteLine($"canceled, not asked to:  {Ids(Cancels.CanceledUnasked)}");
        output.WriteLine($"failures:                {Failures}");
        output.WriteLine($"POST ms          {LatencyMs.Post}");
        output.WriteLine($"POST (202) ms    {LatencyMs.Post202}");
        output.WriteLine($"to final ms      {LatencyMs.ToFinal}");
    }
}

internal sealed record BadInputs(
    int Sent,
    int AsExpected,
    SortedDictionary<string, int> Mismatches,
    SortedDictionary<string, int> Accepted);

internal sealed record AcceptedRequests(
    int Count,
    int FinalAndReadable,
    SortedDictionary<string, int> FinalByStatus,
    long CompletedTokens,
    IReadOnlyList<Guid> NotFinal,
    IReadOnlyList<Guid> Unreadable,
    IReadOnlyList<Guid> NotFoundAfterAccepted,
    SortedDictionary<string, int> NotFinalByInput,
    SortedDictionary<string, int> NotFoundAfterAcceptedByInput);

/// <summary>The cancels the clients sent and what they were answered, and the requests sent with <c>Cancel-After</c>.</summary>
/// <param name="Sent">Cancels sent (one per canceled request at most).</param>
/// <param name="Answers">Their answers: <c>200 &lt;status shown&gt;</c>, <c>409 inference_final</c>, <c>404 ...</c>,
/// <c>503 unavailable</c>, or a connection failure.</param>
/// <param name="Answered200NotCanceled">Cancels answered 200 whose request did not end <c>canceled</c> (reason <c>canceled</c>).</param>
/// <param name="CancelAfterSent">Requests accepted with a <c>Cancel-After</c> header.</param>
/// <param name="CanceledUnasked">Requests that ended canceled without a cancel that could have done it (none sent, or
/// one answered 409), or with <c>cancel_after_elapsed</c> without a <c>Cancel-After</c>.</param>
internal sealed record Cancels(
    int Sent,
    SortedDictionary<string, int> Answers,
    [property: JsonPropertyName("answered_200_not_canceled")] IReadOnlyList<Guid> Answered200NotCanceled,
    int CancelAfterSent,
    IReadOnlyList<Guid> CanceledUnasked);

internal sealed record Latencies(Percentiles Post, [property: JsonPropertyName("post_202")] Percentiles Post202, Percentiles ToFinal);

internal sealed record Percentiles(int Count, double P50, double P95, double P99, double Max)
{
    public static Percentiles Of(List<double> values)
    {
        if (values.Count == 0)
            return new Percentiles(0, 0, 0, 0, 0);
        var sorted = values.Order().ToList();
        double At(double p) => Math.Round(sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))]);
        return new Percentiles(sorted.Count, At(0.50), At(0.95), At(0.99), Math.Round(sorted[^1]));
    }

    public override string ToString() => Count == 0
        ? "none"
        : string.Create(CultureInfo.InvariantCulture, $"p50 {P50:F0}  p95 {P95:F0}  p99 {P99:F0}  max {Max:F0}");
}
