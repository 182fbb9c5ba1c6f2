using System.Net.Sockets;
using MassTransit;
using Microsoft.Data.Sqlite;
using Npgsql;
using StackExchange.Redis;

namespace Inference.Server.Resilience;

/// <summary>
/// Tells a failure that waiting cures (a database, Redis or the broker restarting, failing over, refusing connections
/// or out of them) from one that it does not (a bug, bad data). The first kind is retried for minutes and answered
/// <c>503</c>; the second fails fast.
/// </summary>
public static class TransientFailures
{
    /// <summary>True when <paramref name="exception"/>, or one it wraps, is an outage rather than a mistake.</summary>
    public static bool Is(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is AggregateException aggregate)
                return aggregate.InnerExceptions.Any(Is);
            if (IsOutage(current))
                return true;
        }

        return false;
    }

    private static bool IsOutage(Exception exception) => exception switch
    {
        // Npgsql says which of its failures are worth a retry: I/O, timeouts, and the server's 08 (connection), 53
        // (insufficient resources: too many clients), 57P (shutting down, starting up), 40001 and 40P01.
        NpgsqlException npgsql => npgsql.IsTransient,
        SqliteException sqlite => sqlite.SqliteErrorCode is 5 or 6, // SQLITE_BUSY, SQLITE_LOCKED
        RedisConnectionException or RedisTimeoutException => true,
        // A Redis that is loading its data after a restart, or a replica during a failover.
        RedisServerException redis => redis.Message.StartsWith("LOADING", StringComparison.Ordinal)
            || redis.Message.StartsWith("MASTERDOWN", StringComparison.Ordinal)
            || redis.Message.StartsWith("READONLY", StringComparison.Ordinal)
            || redis.Message.StartsWith("TRYAGAIN", StringComparison.Ordinal),
        ConnectionException => true, // MassTransit: the broker connection is down or was lost
        RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.BrokerUnreachableException => true,
        // Kestrel's refusals of a malformed or oversized body are I/O exceptions too, but the client's fault.
        Microsoft.AspNetCore.Http.BadHttpRequestException => false,
        TimeoutException or SocketException or IOException => true,
        _ => false,
    };
}
