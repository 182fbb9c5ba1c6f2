using Inference.Benchmarks.Measurement;
using StackExchange.Redis;

namespace Inference.Benchmarks.Pipeline;

/// <summary>
/// Waits until the quota of every request is settled or released: the last step of a request, which follows its final
/// row. Only then has the pipeline finished the work that the CPU figures must include.
/// </summary>
internal sealed class QuotaSettlement(IConnectionMultiplexer redis, Sandbox sandbox, ServiceCounters counters)
{
    public async Task WaitAsync(IReadOnlyList<RequestOutcome> outcomes, CancellationToken cancellationToken)
    {
        var database = redis.GetDatabase();
        var pending = outcomes.Where(o => o.Id is not null).ToList();
        var deadline = DateTimeOffset.UtcNow.AddMinutes(1);
        while (pending.Count > 0)
        {
            // One round trip for all: the check runs inside the measured window, on the Redis being measured.
            var batch = database.CreateBatch();
            var states = pending.Select(o => batch.HashGetAsync(sandbox.ReservationKey(o.Id!.Value), "state")).ToList();
            batch.Execute();
            await Task.WhenAll(states).ConfigureAwait(false);
            counters.CountOwnRedisCommands(states.Count);
            pending = pending.Where((outcome, i) => !IsSettled(outcome, states[i].Result)).ToList();
            if (pending.Count == 0)
                return;
            if (DateTimeOffset.UtcNow > deadline)
                throw new TimeoutException($"{pending.Count} reservations were still held a minute after their requests ended, e.g. {pending[0].Id}.");
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    // A request that failed before its reservation was decided may have none at all.
    private static bool IsSettled(RequestOutcome outcome, RedisValue state) =>
        state.IsNull ? !outcome.Completed : state != "reserved";
}
