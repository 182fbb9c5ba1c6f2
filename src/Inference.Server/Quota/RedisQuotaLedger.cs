using System.Globalization;
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
/// <term><c>P:quota:{T}:window:minute:yyyyMMddHHmm</c></term>
/// <description>
/// Hash: <c>used</c> (settled tokens), <c>reserved</c> (tokens of requests not finished), <c>requests</c> (requests
/// admitted) of that UTC calendar minute. Expires 2 minutes after the minute ends.
/// </description>
/// </item>
/// <item>
/// <term><c>P:quota:{T}:window:day:yyyyMMdd</c>, <c>P:quota:{T}:window:month:yyyyMM</c></term>
/// <description>
/// Hash: <c>used</c> and <c>reserved</c> of that UTC calendar day or month. Expires 2 days after the window ends.
/// </description>
/// </item>
/// <item>
/// <term><c>P:quota:{T}:slots</c></term>
/// <description>
/// Sorted set of the tenant's concurrency slots: member the inference id (36 characters, lower case), score the
/// slot's expiry (Unix ms): the request's deadline, or the decision plus <see cref="QuotaOptions.SlotLifetime"/>.
/// A settle or release removes its member; one that never comes (lost in an outage) frees the slot at its expiry,
/// when the request can no longer be unfinished. A reservation drops the expired members before counting; the
/// usage read counts only the live ones. The key expires 2 minutes after its last slot.
/// </description>
/// </item>
/// <item>
/// <term><c>P:quota:{T}:reservation:{inference id, 36 characters, lower case}</c></term>
/// <description>
/// Hash: <c>state</c> (reserved, settled, released, rejected), <c>tenant</c>, <c>tokens</c>, <c>minute</c>,
/// <c>day</c> and <c>month</c> (ids of the windows the tokens were counted in), <c>decided_at</c> (Unix ms); once
/// finished <c>charged</c> and <c>finished_at</c>; when rejected <c>limit</c> (the code of
/// <see cref="QuotaLimitKind"/>), <c>limit_value</c>, <c>used</c>, <c>requested</c>, <c>retry_after_ms</c> (-1: the
/// request can never fit). Expires <see cref="QuotaOptions.ReservationRetention"/> after the decision.
/// </description>
/// </item>
/// <item>
/// <term><c>P:quota:restored</c></term>
/// <description>
/// Marker, no expiry: the ledger's data is whole. A reservation, settlement or release that finds it missing (Redis
/// flushed, or failed over to an empty replica) rebuilds the ledger from <see cref="IQuotaSnapshotSource"/> first;
/// <c>P:quota:restoring</c> (SET NX PX) lets one process do it while the others wait for the marker.
/// </description>
/// </item>
/// </list>
/// <para>
/// Window hashes are created by a reservation, with an expiry set once from the end of their window (never refreshed
/// by later requests); a settlement never recreates a window that has expired. The <c>{T}</c> hash tag puts each
/// tenant's keys in one Redis Cluster slot; the marker and the rebuild span tenants, so the ledger as a whole expects
/// one primary (standalone or Sentinel), not a Cluster.
/// </para>
/// <para>
/// Time comes from the injected <see cref="TimeProvider"/>, not from Redis' clock, so that this ledger and
/// <see cref="InProcessQuotaLedger"/> decide alike and tests can move time; expiries are computed from it too.
/// </para>
/// </remarks>
public sealed class RedisQuotaLedger : IQuotaLedger
{
    /// <summary>Rebuild writes are sent in scripts of about this many arguments, each atomic.</summary>
    private const int RebuildChunkArguments = 4_000;

    private const string ReplyFields =
        "'state', 'tokens', 'limit', 'limit_value', 'used', 'requested', 'retry_after_ms'";

    // Lua 5.1 numbers are doubles; '%d' writes them back as plain integers where tostring would use exponents.
    private const string LuaHelpers = """
        local function int(n) return string.format('%d', n) end
        local function num(v) return tonumber(v or '0') or 0 end
        """ + "\n";

    private static readonly LuaScript ReserveScript = LuaScript.Prepare(LuaHelpers + $$"""
        -- No marker: the data was lost, and deciding on empty counters would admit what the limits refuse.
        if redis.call('EXISTS', @markerKey) == 0 then return {'lost'} end
        -- A redelivered reservation gets the first decision back and counts nothing.
        if redis.call('EXISTS', @reservationKey) == 1 then
          return redis.call('HMGET', @reservationKey, {{ReplyFields}})
        end

        local tokens = tonumber(@tokens)
        local minute = redis.call('HMGET', @minuteKey, 'used', 'reserved', 'requests')
        local day = redis.call('HMGET', @dayKey, 'used', 'reserved')
        local month = redis.call('HMGET', @monthKey, 'used', 'reserved')
        local minuteTotal = num(minute[1]) + num(minute[2])
        local dayTotal = num(day[1]) + num(day[2])
        local monthTotal = num(month[1]) + num(month[2])
        local requests = num(minute[3])
        -- Slots past their expiry belong to requests that have ended, whether or not their release arrived.
        redis.call('ZREMRANGEBYSCORE', @slotsKey, '-inf', @nowMs)
        local concurrent = redis.call('ZCARD', @slotsKey)
        -- A limit of -1 is no limit.
        local function over(limit, value) local l = tonumber(limit) return l >= 0 and value > l end

        -- Same order as QuotaRules.Check: hopeless requests first, then month, day, minute, requests, concurrency.
        local limit, limitValue, used, requested, retryAfterMs
        if over(@monthLimit, tokens) then
          limit, limitValue, used, requested, retryAfterMs = 'quota_monthly_tokens', @monthLimit, monthTotal, tokens, '-1'
        elseif over(@dayLimit, tokens) then
          limit, limitValue, used, requested, retryAfterMs = 'quota_daily_tokens', @dayLimit, dayTotal, tokens, '-1'
        elseif over(@minuteLimit, tokens) then
          limit, limitValue, used, requested, retryAfterMs = 'rate_limit_tokens', @minuteLimit, minuteTotal, tokens, '-1'
        elseif over(@monthLimit, monthTotal + tokens) then
          limit, limitValue, used, requested, retryAfterMs =
            'quota_monthly_tokens', @monthLimit, monthTotal, tokens, @monthRetryAfterMs
        elseif over(@dayLimit, dayTotal + tokens) then
          limit, limitValue, used, requested, retryAfterMs =
            'quota_daily_tokens', @dayLimit, dayTotal, tokens, @dayRetryAfterMs
        elseif over(@minuteLimit, minuteTotal + tokens) then
          limit, limitValue, used, requested, retryAfterMs =
            'rate_limit_tokens', @minuteLimit, minuteTotal, tokens, @minuteRetryAfterMs
        elseif over(@requestsLimit, requests + 1) then
          limit, limitValue, used, requested, retryAfterMs =
            'rate_limit_requests', @requestsLimit, requests, 1, @minuteRetryAfterMs
        elseif over(@concurrentLimit, concurrent + 1) then
          limit, limitValue, used, requested, retryAfterMs =
            'concurrency_limit', @concurrentLimit, concurrent, 1, @concurrencyRetryAfterMs
        end

        redis.call('HSET', @reservationKey, 'tenant', @tenantId, 'tokens', @tokens,
          'minute', @minuteId, 'day', @dayId, 'month', @monthId, 'decided_at', @nowMs)
        if limit then
          redis.call('HSET', @reservationKey, 'state', 'rejected', 'limit', limit, 'limit_value', limitValue,
            'used', int(used), 'requested', int(requested), 'retry_after_ms', retryAfterMs)
        else
          redis.call('HINCRBY', @minuteKey, 'reserved', @tokens)
          redis.call('HINCRBY', @minuteKey, 'requests', 1)
          redis.call('HINCRBY', @dayKey, 'reserved', @tokens)
          redis.call('HINCRBY', @monthKey, 'reserved', @tokens)
          -- A slot already past its expiry (the deadline went by before the decision) holds nothing.
          local slotTtlMs = tonumber(@slotExpiresMs) - tonumber(@nowMs)
          if slotTtlMs > 0 then
            redis.call('ZADD', @slotsKey, @slotExpiresMs, @inferenceId)
            -- The set outlives its longest slot by a grace period; PTTL -1 (no expiry) or shorter is raised, never lowered.
            local keyTtlMs = slotTtlMs + tonumber(@slotsGraceMs)
            if redis.call('PTTL', @slotsKey) < keyTtlMs then redis.call('PEXPIRE', @slotsKey, int(keyTtlMs)) end
          end
          -- PTTL -1: the window was just created. Its expiry follows its window and is never moved afterwards.
          if redis.call('PTTL', @minuteKey) == -1 then redis.call('PEXPIRE', @minuteKey, @minuteTtlMs) end
          if redis.call('PTTL', @dayKey) == -1 then redis.call('PEXPIRE', @dayKey, @dayTtlMs) end
          if redis.call('PTTL', @monthKey) == -1 then redis.call('PEXPIRE', @monthKey, @monthTtlMs) end
          redis.call('HSET', @reservationKey, 'state', 'reserved')
        end
        redis.call('PEXPIRE', @reservationKey, @reservationTtlMs)
        return redis.call('HMGET', @reservationKey, {{ReplyFields}})
        """);

    // Settle and release differ only in the final state and the tokens charged (release charges nothing).
    private static readonly LuaScript FinishScript = LuaScript.Prepare(LuaHelpers + """
        -- No marker: the reservation may be lost and about to be recreated; answering 'not reserved' now would leave
        -- the recreated one holding its tokens and its slot.
        if redis.call('EXISTS', @markerKey) == 0 then return {'lost'} end
        local record = redis.call('HMGET', @reservationKey, 'state', 'tokens', 'charged', 'minute', 'day', 'month')
        local state, tokens = record[1], record[2]
        if not state then return {'not_reserved', '0', '0'} end
        if state == 'rejected' then return {'was_rejected', tokens, '0'} end
        if state == 'settled' then return {'already_settled', tokens, record[3]} end
        if state == 'released' then return {'already_released', tokens, '0'} end

        -- Correct the windows the tokens were counted in, never the current ones. The window keys share the
        -- reservation's hash tag, so deriving them here stays within one cluster slot.
        local reserved = tonumber(tokens)
        local windows = {{'minute:', record[4]}, {'day:', record[5]}, {'month:', record[6]}}
        for _, window in ipairs(windows) do
          if window[2] then
            local key = @tenantKeyPrefix .. 'window:' .. window[1] .. window[2]
            -- An expired window stays gone: recreating it would leave a counter without an expiry.
            if redis.call('EXISTS', key) == 1 then
              if redis.call('HINCRBY', key, 'reserved', int(-reserved)) < 0 then redis.call('HSET', key, 'reserved', '0') end
              redis.call('HINCRBY', key, 'used', @chargedTokens)
            end
          end
        end
        -- Only this request's own slot: after its expiry it is gone already, and nobody else's is touched.
        redis.call('ZREM', @slotsKey, @inferenceId)

        redis.call('HSET', @reservationKey, 'state', @finalState, 'charged', @chargedTokens, 'finished_at', @nowMs)
        return {'applied', tokens, @chargedTokens}
        """);

    private static readonly LuaScript UsageScript = LuaScript.Prepare("""
        local minute = redis.call('HMGET', @minuteKey, 'used', 'reserved', 'requests')
        local day = redis.call('HMGET', @dayKey, 'used', 'reserved')
        local month = redis.call('HMGET', @monthKey, 'used', 'reserved')
        -- Live slots only; the expired ones are left for the next reservation to drop, so this read writes nothing.
        local slots = redis.call('ZCOUNT', @slotsKey, '(' .. @nowMs, '+inf')
        return {minute[1], minute[2], minute[3], day[1], day[2], month[1], month[2], slots}
        """);

    /// <summary>
    /// Writes one chunk of a rebuild. ARGV is a list of operations, each a code and a fixed number of arguments;
    /// KEYS[i] is the key of the i-th operation. A chunk is atomic, and reservations wait for the marker, which the
    /// last chunk sets, so no decision sees half a rebuild.
    /// </summary>
    private const string RebuildScript = """
        local i, k = 1, 1
        while i <= #ARGV do
          local op, key = ARGV[i], KEYS[k]
          if op == 'window' then
            -- used, reserved, requests, ttl ms
            redis.call('DEL', key)
            redis.call('HSET', key, 'used', ARGV[i + 1], 'reserved', ARGV[i + 2])
            if ARGV[i + 3] ~= '' then redis.call('HSET', key, 'requests', ARGV[i + 3]) end
            redis.call('PEXPIRE', key, ARGV[i + 4])
            i = i + 5
          elseif op == 'clear' then
            redis.call('DEL', key)
            i = i + 1
          elseif op == 'slot' then
            -- member, expiry (Unix ms), key ttl ms (the slot's and a grace period)
            redis.call('ZADD', key, ARGV[i + 2], ARGV[i + 1])
            if redis.call('PTTL', key) < tonumber(ARGV[i + 3]) then redis.call('PEXPIRE', key, ARGV[i + 3]) end
            i = i + 4
          elseif op == 'reservation' then
            -- tenant, tokens, minute, day, month, decided_at, ttl ms
            redis.call('DEL', key)
            redis.call('HSET', key, 'state', 'reserved', 'tenant', ARGV[i + 1], 'tokens', ARGV[i + 2],
              'minute', ARGV[i + 3], 'day', ARGV[i + 4], 'month', ARGV[i + 5], 'decided_at', ARGV[i + 6])
            redis.call('PEXPIRE', key, ARGV[i + 7])
            i = i + 8
          elseif op == 'marker' then
            redis.call('SET', key, ARGV[i + 1])
            i = i + 2
          else
            return redis.error_reply('unknown rebuild operation ' .. tostring(op))
          end
          k = k + 1
        end
        return k - 1
        """;

    private const string UnlockScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """;

    /// <summary>How long one rebuild may hold the lock; a process that dies while rebuilding frees it after this.</summary>
    private static readonly TimeSpan RebuildLockTime = TimeSpan.FromSeconds(30);

    /// <summary>How long a process waits for another one's rebuild before it gives up (and its caller retries).</summary>
    private static readonly TimeSpan RebuildWait = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan RebuildPoll = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// How long the slots key outlives its last slot. Slots expire by their score, on the process's clock; the key's
    /// expiry, on Redis' clock, only cleans up, so it must never come first, even when the two clocks disagree.
    /// </summary>
    private static readonly TimeSpan SlotsKeyGrace = TimeSpan.FromMinutes(2);

    private readonly IConnectionMultiplexer _redis;
    private readonly IQuotaSnapshotSource _snapshots;
    private readonly TimeProvider _timeProvider;
    private readonly string _keyPrefix;
    private readonly TimeSpan _reservationRetention;
    private readonly TimeSpan _slotLifetime;

    public RedisQuotaLedger(
        IConnectionMultiplexer redis,
        IQuotaSnapshotSource snapshots,
        IOptions<QuotaOptions> options,
        TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(redis);
        ArgumentNullException.ThrowIfNull(snapshots);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _redis = redis;
        _snapshots = snapshots;
        _timeProvider = timeProvider;
        _keyPrefix = options.Value.KeyPrefix;
        _reservationRetention = options.Value.ReservationRetention;
        _slotLifetime = options.Value.SlotLifetime;
    }

    private RedisKey MarkerKey => $"{_keyPrefix}:quota:restored";

    private RedisKey RestoringKey => $"{_keyPrefix}:quota:restoring";

    public async Task<QuotaDecision> ReserveAsync(
        QuotaReservation reservation,
        QuotaPlan plan,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        ArgumentNullException.ThrowIfNull(plan);

        // A second 'lost' means the data went again while this call rebuilt it: let the caller's retry come back.
        for (var attempt = 0; ; attempt++)
        {
            var reply = await ReserveOnceAsync(reservation, plan, ct).ConfigureAwait(false);
            if (reply.Length > 1)
                return ReadDecision(reply);
            if (attempt > 0)
                throw new TimeoutException("The quota ledger's data was lost again while it was being rebuilt.");

            await RestoreAsync(ct).ConfigureAwait(false);
        }
    }

    public Task<QuotaSettlement> SettleAsync(
        string tenantId,
        Guid inferenceId,
        long actualTokens,
        CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(actualTokens);
        return FinishAsync(tenantId, inferenceId, "settled", actualTokens, ct);
    }

    public Task<QuotaSettlement> ReleaseAsync(
        string tenantId,
        Guid inferenceId,
        CancellationToken ct = default) =>
        FinishAsync(tenantId, inferenceId, "released", chargedTokens: 0, ct);

    public async Task<QuotaUsage> GetUsageAsync(string tenantId, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        var windows = QuotaWindows.At(_timeProvider.GetUtcNow());
        var tenantKeyPrefix = TenantKeyPrefix(tenantId);

        var reply = (RedisValue[])(await EvaluateAsync(
            UsageScript,
            new
            {
                minuteKey = (RedisKey)(tenantKeyPrefix + "window:minute:" + windows.MinuteId),
                dayKey = (RedisKey)(tenantKeyPrefix + "window:day:" + windows.DayId),
                monthKey = (RedisKey)(tenantKeyPrefix + "window:month:" + windows.MonthId),
                slotsKey = (RedisKey)(tenantKeyPrefix + "slots"),
                nowMs = windows.Now.ToUnixTimeMilliseconds(),
            },
            ct).ConfigureAwait(false))!;

        return new QuotaUsage(
            new QuotaWindowUsage(Long(reply[2]), 0, windows.MinuteEnd),
            new QuotaWindowUsage(Long(reply[0]), Long(reply[1]), windows.MinuteEnd),
            new QuotaWindowUsage(Long(reply[3]), Long(reply[4]), windows.DayEnd),
            new QuotaWindowUsage(Long(reply[5]), Long(reply[6]), windows.MonthEnd),
            new QuotaWindowUsage(Long(reply[7]), 0, null));
    }

    public async Task<ReservationRecord?> GetReservationAsync(
        string tenantId,
        Guid inferenceId,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        var entries = await _redis.GetDatabase()
            .HashGetAllAsync(ReservationKey(tenantId, inferenceId))
            .WaitAsync(ct)
            .ConfigureAwait(false);
        if (entries.Length == 0)
            return null;

        var fields = entries.ToDictionary(entry => (string)entry.Name!, entry => entry.Value);
        var decision = ReadDecision(
        [
            fields["state"], fields["tokens"], Field("limit"), Field("limit_value"), Field("used"), Field("requested"),
            Field("retry_after_ms"),
        ]);
        var decidedAt = FromUnixMilliseconds(fields["decided_at"]);

        return new ReservationRecord(
            (string)fields["tenant"]!,
            inferenceId,
            ParseState((string)fields["state"]!),
            decision,
            QuotaWindows.ParseMinuteId((string)fields["minute"]!),
            QuotaWindows.ParseDayId((string)fields["day"]!),
            Field("month") is { IsNull: false } month
                ? QuotaWindows.ParseMonthId((string)month!)
                : QuotaWindows.At(decidedAt).MonthStart,
            decidedAt,
            Field("charged") is { IsNull: false } charged ? (long)charged : null,
            Field("finished_at") is { IsNull: false } finishedAt ? FromUnixMilliseconds(finishedAt) : null);

        RedisValue Field(string name) => fields.GetValueOrDefault(name, RedisValue.Null);
    }

    public async Task RestoreAsync(CancellationToken ct = default)
    {
        var database = _redis.GetDatabase();
        if (await database.KeyExistsAsync(MarkerKey).WaitAsync(ct).ConfigureAwait(false))
            return;

        var lockToken = Guid.NewGuid().ToString("N");
        var waitUntil = _timeProvider.GetTimestamp();
        while (!await database.StringSetAsync(RestoringKey, lockToken, RebuildLockTime, When.NotExists)
                   .WaitAsync(ct).ConfigureAwait(false))
        {
            // Another process rebuilds: wait for its marker, within bounds.
            if (_timeProvider.GetElapsedTime(waitUntil) > RebuildWait)
                throw new TimeoutException("Another process is still rebuilding the quota ledger; try again.");

            await Task.Delay(RebuildPoll, _timeProvider, ct).ConfigureAwait(false);
            if (await database.KeyExistsAsync(MarkerKey).WaitAsync(ct).ConfigureAwait(false))
                return;
        }

        try
        {
            // The lock was free: whoever held it before may have finished just now.
            if (await database.KeyExistsAsync(MarkerKey).WaitAsync(ct).ConfigureAwait(false))
                return;

            var windows = QuotaWindows.At(_timeProvider.GetUtcNow());
            var snapshot = await _snapshots.ReadAsync(windows.Now, ct).ConfigureAwait(false);
            await WriteRebuildAsync(database, QuotaRebuild.Plan(snapshot, windows), windows, ct).ConfigureAwait(false);
        }
        finally
        {
            await database.ScriptEvaluateAsync(UnlockScript, [RestoringKey], [lockToken]).ConfigureAwait(false);
        }
    }

    private async Task WriteRebuildAsync(
        IDatabase database,
        IReadOnlyList<TenantRebuild> plans,
        QuotaWindows windows,
        CancellationToken ct)
    {
        var keys = new List<RedisKey>();
        var args = new List<RedisValue>();
        var retentionMs = Milliseconds(_reservationRetention);

        foreach (var plan in plans)
        {
            var prefix = TenantKeyPrefix(plan.TenantId);
            Window(prefix + "window:minute:" + windows.MinuteId, 0, plan.MinuteReserved, plan.MinuteRequests,
                windows.MinuteCounterExpiresAt);
            Window(prefix + "window:day:" + windows.DayId, plan.Day.Used, plan.Day.Reserved, null,
                windows.DayCounterExpiresAt);
            Window(prefix + "window:month:" + windows.MonthId, plan.Month.Used, plan.Month.Reserved, null,
                windows.MonthCounterExpiresAt);
            var slotsKey = prefix + "slots";
            keys.Add(slotsKey);
            args.Add("clear");
            foreach (var open in plan.Open)
            {
                // A slot whose expiry has passed belongs to a request that cannot still be running.
                var slotExpiresAt = QuotaRules.SlotExpiry(open, _slotLifetime);
                if (slotExpiresAt > windows.Now)
                {
                    keys.Add(slotsKey);
                    args.AddRange(
                    [
                        "slot", open.InferenceId.ToString("D"), slotExpiresAt.ToUnixTimeMilliseconds(),
                        Milliseconds(slotExpiresAt - windows.Now + SlotsKeyGrace),
                    ]);
                }

                var at = QuotaWindows.At(open.ReservedAt);
                keys.Add(ReservationKey(plan.TenantId, open.InferenceId));
                args.AddRange(
                [
                    "reservation", plan.TenantId, open.Tokens, at.MinuteId, at.DayId, at.MonthId,
                    at.Now.ToUnixTimeMilliseconds(), retentionMs,
                ]);
            }

            // A tenant's keys always go in one chunk, so a settlement never sees half of a tenant.
            if (args.Count >= RebuildChunkArguments)
                await FlushAsync().ConfigureAwait(false);
        }

        keys.Add(MarkerKey);
        args.AddRange(["marker", windows.Now.ToUnixTimeMilliseconds()]);
        await FlushAsync().ConfigureAwait(false);

        void Window(string key, long used, long reserved, long? requests, DateTimeOffset expiresAt)
        {
            keys.Add(key);
            args.AddRange(
            [
                "window", used, reserved,
                requests is { } value ? value.ToString(CultureInfo.InvariantCulture) : "",
                Milliseconds(expiresAt - windows.Now),
            ]);
        }

        async Task FlushAsync()
        {
            await database.ScriptEvaluateAsync(RebuildScript, [.. keys], [.. args]).WaitAsync(ct).ConfigureAwait(false);
            keys.Clear();
            args.Clear();
        }
    }

    private async Task<RedisValue[]> ReserveOnceAsync(QuotaReservation reservation, QuotaPlan plan, CancellationToken ct)
    {
        var windows = QuotaWindows.At(_timeProvider.GetUtcNow());
        var tenantKeyPrefix = TenantKeyPrefix(reservation.TenantId);

        var reply = await EvaluateAsync(
            ReserveScript,
            new
            {
                markerKey = MarkerKey,
                reservationKey = ReservationKey(reservation.TenantId, reservation.InferenceId),
                minuteKey = (RedisKey)(tenantKeyPrefix + "window:minute:" + windows.MinuteId),
                dayKey = (RedisKey)(tenantKeyPrefix + "window:day:" + windows.DayId),
                monthKey = (RedisKey)(tenantKeyPrefix + "window:month:" + windows.MonthId),
                slotsKey = (RedisKey)(tenantKeyPrefix + "slots"),
                inferenceId = reservation.InferenceId.ToString("D"),
                slotsGraceMs = Milliseconds(SlotsKeyGrace),
                slotExpiresMs = QuotaRules.SlotExpiry(reservation, windows.Now, _slotLifetime).ToUnixTimeMilliseconds(),
                tenantId = reservation.TenantId,
                tokens = reservation.Tokens,
                minuteLimit = plan.TokensPerMinute ?? -1,
                dayLimit = plan.TokensPerDay ?? -1,
                monthLimit = plan.TokensPerMonth ?? -1,
                requestsLimit = plan.RequestsPerMinute ?? -1,
                concurrentLimit = plan.MaxConcurrent ?? -1,
                minuteId = windows.MinuteId,
                dayId = windows.DayId,
                monthId = windows.MonthId,
                nowMs = windows.Now.ToUnixTimeMilliseconds(),
                minuteRetryAfterMs = Milliseconds(windows.MinuteEnd - windows.Now),
                dayRetryAfterMs = Milliseconds(windows.DayEnd - windows.Now),
                monthRetryAfterMs = Milliseconds(windows.MonthEnd - windows.Now),
                concurrencyRetryAfterMs = Milliseconds(QuotaWindows.ConcurrencyRetryAfter),
                minuteTtlMs = Milliseconds(windows.MinuteCounterExpiresAt - windows.Now),
                dayTtlMs = Milliseconds(windows.DayCounterExpiresAt - windows.Now),
                monthTtlMs = Milliseconds(windows.MonthCounterExpiresAt - windows.Now),
                reservationTtlMs = Milliseconds(_reservationRetention),
            },
            ct).ConfigureAwait(false);

        return (RedisValue[])reply!;
    }

    private async Task<QuotaSettlement> FinishAsync(
        string tenantId,
        Guid inferenceId,
        string finalState,
        long chargedTokens,
        CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        var tenantKeyPrefix = TenantKeyPrefix(tenantId);
        RedisValue[] reply;
        for (var attempt = 0; ; attempt++)
        {
            var now = QuotaWindows.At(_timeProvider.GetUtcNow()).Now;
            reply = (RedisValue[])(await EvaluateAsync(
                FinishScript,
                new
                {
                    markerKey = MarkerKey,
                    reservationKey = ReservationKey(tenantId, inferenceId),
                    slotsKey = (RedisKey)(tenantKeyPrefix + "slots"),
                    inferenceId = inferenceId.ToString("D"),
                    tenantKeyPrefix,
                    finalState,
                    chargedTokens,
                    nowMs = now.ToUnixTimeMilliseconds(),
                },
                ct).ConfigureAwait(false))!;
            if (reply.Length > 1)
                break;
            if (attempt > 0)
                throw new TimeoutException("The quota ledger's data was lost again while it was being rebuilt.");

            await RestoreAsync(ct).ConfigureAwait(false);
        }

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

    private Task<RedisResult> EvaluateAsync(LuaScript script, object parameters, CancellationToken ct) =>
        // Redis cannot cancel a script once sent; giving up the wait is safe because every script is idempotent
        // per inference id, so the caller's retry finds whatever the abandoned call did.
        script.EvaluateAsync(_redis.GetDatabase(), parameters).WaitAsync(ct);

    private string TenantKeyPrefix(string tenantId) => $"{_keyPrefix}:quota:{{{tenantId}}}:";

    private RedisKey ReservationKey(string tenantId, Guid inferenceId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenantId);
        return TenantKeyPrefix(tenantId) + "reservation:" + inferenceId.ToString("D");
    }

    /// <summary>Reads the reply fields state, tokens, limit, limit_value, used, requested, retry_after_ms.</summary>
    private static QuotaDecision ReadDecision(RedisValue[] reply)
    {
        var tokens = (long)reply[1];
        if ((string?)reply[0] != "rejected")
            return QuotaDecision.Reserved(tokens);

        var retryAfterMs = (long)reply[6];
        return QuotaDecision.Rejected(
            tokens,
            new QuotaRejection(
                QuotaLimitKindExtensions.FromCode((string)reply[2]!),
                (long)reply[3],
                Long(reply[4]),
                Long(reply[5]),
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

    private static long Long(RedisValue value) => value.IsNull ? 0 : (long)value;

    private static DateTimeOffset FromUnixMilliseconds(RedisValue value) =>
        DateTimeOffset.FromUnixTimeMilliseconds((long)value);

    private static long Milliseconds(TimeSpan duration) => (long)duration.TotalMilliseconds;
}
