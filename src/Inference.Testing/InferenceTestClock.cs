namespace Inference.Testing;

/// <summary>
/// The harness's clock: the time the state machine stamps on requests and compares deadlines with. It stands still
/// until the test moves it with <see cref="Advance"/> (or <see cref="InferenceTestHarness.AdvanceAsync"/>, which then
/// fires the deadlines that passed).
/// </summary>
/// <remarks>Only <see cref="GetUtcNow"/> is scripted: timers and delays still run on real time.</remarks>
public sealed class InferenceTestClock : TimeProvider
{
    private long _ticks;

    /// <param name="start">The time the clock shows until it is advanced, cut to whole milliseconds.</param>
    public InferenceTestClock(DateTimeOffset start) =>
        _ticks = start.UtcTicks - (start.UtcTicks % TimeSpan.TicksPerMillisecond);

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    /// <summary>Moves the clock forward by <paramref name="by"/>; it never goes back.</summary>
    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        Interlocked.Add(ref _ticks, by.Ticks);
    }
}
