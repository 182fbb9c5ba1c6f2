namespace Inference.Server.Tests.Quota;

/// <summary>A clock that stands still until a test moves it, so window edges are crossed exactly and without sleeps.</summary>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan duration)
    {
        Assert.True(duration >= TimeSpan.Zero, "Time only moves forward; use SetUtcNow to look back.");
        _now += duration;
    }

    public void SetUtcNow(DateTimeOffset now) => _now = now;
}
