namespace Inference.Server.Tests.Persistence;

/// <summary>Polls a condition until it holds or a deadline passes: no fixed sleeps in the specs.</summary>
internal static class Eventually
{
    public static async Task Holds(Func<Task<bool>> condition, string what, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(20));
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting until {what}.");
            await Task.Delay(10);
        }
    }

    public static Task Holds(Func<bool> condition, string what, TimeSpan? within = null) =>
        Holds(() => Task.FromResult(condition()), what, within);
}
