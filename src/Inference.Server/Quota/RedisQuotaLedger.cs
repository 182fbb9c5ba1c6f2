using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Inference.Server.Quota;

/// <summary>
/// The quota ledger shared by every orchestrator, kept in Redis. Each operation is one Lua script, so it is atomic
/// and costs one round trip.
/// </summary>
/// <remarks>
/// <para>Key layout (<c>P</c> is <see cref="QuotaOptions.KeyPrefix"/>, <c>T</c> the tenant id):</para>
/// <list type="table">
/// <item>
/// <term><c>P:quota:{T}:minute:yyyyMMddHHmm</c></term>
/// <description>
/// String counter: tokens counted in that UTC calendar minute. Expires 2 minutes after the minute ends.
/// </description>
/// </item>
/// <item>
/// <term><c>P:quota:{T}:day:yyyyMMdd</c></term>
/// <description>
/// String counter: the tenant's token total for that UTC calendar day. Expires 2 days after the day ends.
/// </description>
/// </item>
/// <item>
/// <term><c>P:quota:{T}:reservation:{inference id, 36 characters, lower case}</c></term>
/// <description>
/// Hash: <c>state</c> (reserved, settled, released, rejected), <c>tenant</c>, <c>tokens</c>, <c>minute</c> and
/// <c>day</c> (ids of the windows the tokens were counted in), <c>decided_at</c> (Unix ms); once finished
/// <c>charged</c> and <c>finished_at</c>; when rejected <c>limit</c> (tokens_per_minute, tokens_per_day),
/// <c>limit_tokens</c>, <c>remaining</c>, <c>retry_after_ms</c> (-1: the request can never fit).
/// Expires <see cref="QuotaOptions.ReservationRetention"/> after the decision.
/// </description>
/// </item>
/// </list>
/// <para>
/// Counters count reserved tokens at once and are corrected when settled or released. A counter's expiry is set
/// once, when the counter is created, from the end of its window (never refreshed by later requests), and a
/// settlement never recreates a counter that has expired. The <c>{T}</c> hash tag puts all of a tenant's keys in
/// one Redis Cluster slot: a script may then derive the window keys from the reservation it reads.
/// </para>
/// <para>
/// Time comes from the injected <see cref="TimeProvider"/>, not from Redis' clock, so that this ledger and
/// <see cref="InProcessQuotaLedger"/> decide alike and tests can move time; expiries are computed from it too.
/// </para>
/// </remarks>
public sealed class RedisQuotaLedger : IQuotaLedger
{
    private const string ReplyFields = "'state', 'tokens', 'limit', 'limit_tokens', 'remaining', 'retry_after_ms'";

    // Lua 5.1 numbers are doubles; '%d' writes them back as plain integers where tostring would use exponents.
    private const string LuaHelpers = "local function int(n) return string.format('%d', n) end\n";

    private static readonly LuaScript ReserveScript = LuaScript.Prepare(LuaHelpers + $$"""
        -- A redelivered reservation gets the first decision back and counts nothing.
        if redis.call('EXISTS', @reservationKey) == 1 then
          return redis.call('HMGET', @reservationKey, {{ReplyFields}})
        end

        local tokens = tonumber(@tokens)
        local minuteLimit = tonumber(@minuteLimit)
        local dayLimit = tonumber(@dayLimit)
        local minuteUsed = tonumber(redis.call('GET', @minuteKey) or '0')
        local dayUsed = tonumber(redis.call('GET', @dayKey) or '0')

        -- Same order as QuotaRules.Check: hopeless requests first, then the day, whose reset is the later one.
        local limit, limitTokens, used, retryAfterMs
        if minuteLimit > 0 and tokens > minuteLimit then
          limit, limitTokens, used, retryAfterMs = 'tokens_per_minute', minuteLimit, minuteUsed, '-1'
        elseif dayLimit > 0 and tokens > dayLimit then
          limit, limitTokens, used, retryAfterMs = 'tokens_per_day', dayLimit, dayUsed, '-1'
        elseif dayLimit > 0 and dayUsed + tokens > dayLimit then
          limit, limitTokens, used, retryAfterMs = 'tokens_per_day', dayLimit, dayUsed, @dayRetryAfterMs
        elseif minuteLimit > 0 and minuteUsed + tokens > minuteLimit then
          limit, limitTokens, used, retryAfterMs = 'tokens_per_minute', minuteLimit, minuteUsed, @minuteRetryAfterMs
        end

        redis.call('HSET', @reservationKey, 'tenant', @tenantId, 'tokens', @tokens,
          'minute', @minuteId, 'day', @dayId, 'decided_at', @nowMs)
        if limit then
          redis.call('HSET', @reservationKey, 'state', 'rejected', 'limit', limit, 'limit_tokens', int(limitTokens),
            'remaining', int(math.max(0, limitTokens - used)), 'retry_after_ms', retryAfterMs)
        else
          redis.call('INCRBY', @minuteKey, @tokens)
          redis.call('INCRBY', @dayKey, @tokens)
          -- PTTL -1: the counter was just created. Its expiry follows its window and is never moved afterwards.
          if redis.call('PTTL', @minuteKey) == -1 then redis.call('PEXPIRE', @minuteKey, @minuteCounterTtlMs) end
          if redis.call('PTTL', @dayKey) == -1 then redis.call('PEXPIRE', @dayKey, @dayCounterTtlMs) end
          redis.call('HSET', @reservationKey, 'state', 'reserved')
        end
        redis.call('PEXPIRE', @reservationKey, @reservationTtlMs)
        return redis.call('HMGET', @reservationKey, {{ReplyFields}})
        """);

    // Settle and release differ only in the final state and the tokens charged (release charges nothing).
    private static readonly LuaScript FinishScript = LuaScript.Prepare(LuaHelpers + """
        local record = redis.call('HMGET', @reservationKey, 'state', 'tokens', 'charged', 'minute', 'day')
        local state, tokens = record[1], record[2]
        if not state then return {'not_reserved', '0', '0'} end
        if state == 'rejected' then return {'was_rejected', tokens, '0'} end
        if state == 'settled' then return {'already_settled', tokens, record[3]} end
        if state == 'released' then return {'already_released', tokens, '0'} end

        -- Correct the windows the tokens were counted in, never the current ones. The window keys share the
        -- reservation's hash tag, so deriving them here stays within one cluster slot.
        local delta = tonumber(@chargedTokens) - tonumber(tokens)
        for _, key in ipairs({@tenantKeyPrefix .. 'minute:' .. record[4], @tenantKeyPrefix .. 'day:' .. record[5]}) do
          -- An expired window stays gone: recreating it would leave a counter without an expiry.
          if delta ~= 0 and redis.call('EXISTS', key) == 1 then
            if redis.call('INCRBY', key, int(delta)) < 0 then redis.call('SET', key, '0', 'KEEPTTL') end
          end
        end

        redis.call('HSET', @reservationKey, 'state', @finalState, 'charged', @chargedTokens, 'finished_at', @nowMs)
        return {'applied', tokens, @chargedTokens}
        """);

    private readonly IConnectionMultiplexer _redis;
    private readonly TimeProvider _timeProvider;
    private readonly string _keyPrefix;
    private readonly TimeSpan _reservationRetention;

    public RedisQuotaLedger(IConnectionMultiplexer redis, IOptions<QuotaOptions> options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(redis);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _redis = redis;
        _timeProvider = timeProvider;
        _keyPrefix = options.Value.KeyPrefix;
        _reservationRetention = options.Value.ReservationRetention;
    }

    public async Task<QuotaDecision> ReserveAsync(
        QuotaReservation reservation,
        QuotaLimits limits,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        ArgumentNullException.ThrowIfNull(limits);
        var windows = QuotaWindows.At(_timeProvider.GetUtcNow());
        var tenantKeyPrefix = TenantKeyPrefix(reservation.TenantId);

        var reply = await EvaluateAsync(
            ReserveScript,
            new
            {
                reservationKey = ReservationKey(reservation.TenantId, reservation.InferenceId),
                minuteKey = (RedisKey)(tenantKeyPrefix + "minute:" + windows.MinuteId),
                dayKey = (RedisKey)(tenantKeyPrefix + "day:" + windows.DayId),
                tenantId = reservation.TenantId,
                tokens = reservation.Tokens,
                minuteLimit = limits.TokensPerMinute,
                dayLimit = limits.TokensPerDay,
                minuteId = windows.MinuteId,
                dayId = windows.DayId,
                nowMs = windows.Now.ToUnixTimeMilliseconds(),
                minuteRetryAfterMs = Milliseconds(windows.MinuteEnd - windows.Now),
                dayRetryAfterMs = Milliseconds(windows.DayEnd - windows.Now),
                minuteCounterTtlMs = Milliseconds(windows.MinuteCounterExpiresAt - windows.Now),
                dayCounterTtlMs = Milliseconds(windows.DayCounterExpiresAt - windows.Now),
                reservationTtlMs = Milliseconds(_reservationRetention),
            },
            cancellationToken).ConfigureAwait(false);

        return ReadDecision((RedisValue[])reply!);
    }

    public Task<QuotaSettlement> SettleAsync(
        string tenantId,
        Guid inferenceId,
        long actualTokens,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(actualTokens);
        return FinishAsync(tenantId, inferenceId, "settled", actualTokens, cancellationToken);
    }

    public Task<QuotaSettlement> ReleaseAsync(
        string tenantId,
        Guid inferenceId,
        CancellationToken cancellationToken = default) =>
        FinishAsync(tenantId, inferenceId, "released", chargedTokens: 0, cancellationToken);

    public async Task<QuotaUsage> GetUsageAsync(string tenantId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        var windows = QuotaWindows.At(_timeProvider.GetUtcNow());
        var tenantKeyPrefix = TenantKeyPrefix(tenantId);
        RedisKey[] keys = [tenantKeyPrefix + "minute:" + windows.MinuteId, tenantKeyPrefix + "day:" + windows.DayId];

        var counters = await _redis.GetDatabase().StringGetAsync(keys).WaitAsync(cancellationToken).ConfigureAwait(false);

        return new QuotaUsage(
            counters[0].IsNull ? 0 : (long)counters[0],
            counters[1].IsNull ? 0 : (long)counters[1],
            windows.MinuteEnd,
            windows.DayEnd);
    }

    public async Task<ReservationRecord?> GetReservationAsync(
        string tenantId,
        Guid inferenceId,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        var entries = await _redis.GetDatabase()
            .HashGetAllAsync(ReservationKey(tenantId, inferenceId))
            .WaitAsync(cancellationToken)
            .ConfigureAwait(false);
        if (entries.Length == 0)
            return null;

        var fields = entries.ToDictionary(entry => (string)entry.Name!, entry => entry.Value);
        var decision = ReadDecision(
            [fields["state"], fields["tokens"], Field("limit"), Field("limit_tokens"), Field("remaining"), Field("retry_after_ms")]);

        return new ReservationRecord(
            (string)fields["tenant"]!,
            inferenceId,
            ParseState((string)fields["state"]!),
            decision,
            QuotaWindows.ParseMinuteId((string)fields["minute"]!),
            QuotaWindows.ParseDayId((string)fields["day"]!),
            FromUnixMilliseconds(fields["decided_at"]),
            Field("charged") is { IsNull: false } charged ? (long)charged : null,
            Field("finished_at") is { IsNull: false } finishedAt ? FromUnixMilliseconds(finishedAt) : null);

        RedisValue Field(string name) => fields.GetValueOrDefault(name, RedisValue.Null);
    }

    private async Task<QuotaSettlement> FinishAsync(
        string tenantId,
        Guid inferenceId,
        string finalState,
        long chargedTokens,
        CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        var now = QuotaWindows.At(_timeProvider.GetUtcNow()).Now;

        var reply = (RedisValue[])(await EvaluateAsync(
            FinishScript,
            new
            {
                reservationKey = ReservationKey(tenantId, inferenceId),
                tenantKeyPrefix = TenantKeyPrefix(tenantId),
                finalState,
                chargedTokens,
                nowMs = now.ToUnixTimeMilliseconds(),
            },
            cancellationToken).ConfigureAwait(false))!;

        var outcome = (string)reply[0]! switch
        {
            "applied" => QuotaSettlementOutcome.Applied,
            "already_settled" => QuotaSettlementOutcome.AlreadySettled,
            "already_released" => QuotaSettlementOutcome.AlreadyReleased,
            "not_reserved" => QuotaSettlementOutcome.NotReserved,
            "was_rejected" => QuotaSettlementOutcome.WasRejected,
            var unknown => throw new InvalidOperationException($"Unexpected quota script reply '{unknown}'."),
        };
        return new QuotaSettlement(outcome, (long)reply[1], (long)reply[2]);
    }

    private Task<RedisResult> EvaluateAsync(LuaScript script, object parameters, CancellationToken cancellationToken) =>
        // Redis cannot cancel a script once sent; giving up the wait is safe because every script is idempotent
        // per inference id, so the caller's retry finds whatever the abandoned call did.
        script.EvaluateAsync(_redis.GetDatabase(), parameters).WaitAsync(cancellationToken);

    private string TenantKeyPrefix(string tenantId) => $"{_keyPrefix}:quota:{{{tenantId}}}:";

    private RedisKey ReservationKey(string tenantId, Guid inferenceId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        return TenantKeyPrefix(tenantId) + "reservation:" + inferenceId.ToString("D");
    }

    /// <summary>Reads the reply fields state, tokens, limit, limit_tokens, remaining, retry_after_ms.</summary>
    private static QuotaDecision ReadDecision(RedisValue[] reply)
    {
        var tokens = (long)reply[1];
        if ((string?)reply[0] != "rejected")
            return QuotaDecision.Reserved(tokens);

        var retryAfterMs = (long)reply[5];
        return QuotaDecision.Rejected(
            tokens,
            new QuotaRejection(
                QuotaLimitKindExtensions.FromCode((string)reply[2]!),
                (long)reply[3],
                (long)reply[4],
                retryAfterMs < 0 ? null : TimeSpan.FromMilliseconds(retryAfterMs)));
    }

    private static ReservationState ParseState(string state) => state switch
    {
        "reserved" => ReservationState.Reserved,
        "settled" => ReservationState.Settled,
        "released" => ReservationState.Released,
        "rejected" => ReservationState.Rejected,
        _ => throw new FormatException($"Unknown reservation state '{state}'."),
    };

    private static DateTimeOffset FromUnixMilliseconds(RedisValue value) =>
        DateTimeOffset.FromUnixTimeMilliseconds((long)value);

    private static long Milliseconds(TimeSpan duration) => (long)duration.TotalMilliseconds;
}
