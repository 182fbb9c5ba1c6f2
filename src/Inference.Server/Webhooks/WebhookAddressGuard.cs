using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Inference.Server.Webhooks;

/// <summary>
/// Keeps webhooks off what only this server can reach (SSRF): a destination is resolved, and refused when ANY of its
/// addresses is loopback, private, link-local, unique local, shared (CGNAT), multicast, unspecified, broadcast, reserved
/// or a cloud metadata address, for IPv4, IPv6 and IPv4 embedded in IPv6. Checked when a request is submitted and again
/// at every delivery, where the connection goes to the very address that was checked (see <see cref="ConnectAsync"/>),
/// so that a DNS answer that changes in between (rebinding) cannot turn an allowed name into an internal address.
/// Only ports 80, 443 and 1024-65535 are allowed. <see cref="WebhookOptions.AllowPrivateNetworks"/> lifts the address
/// rule (never the port rule).
/// </summary>
public sealed class WebhookAddressGuard(IOptions<WebhookOptions> options)
{
    /// <summary>Addresses that cloud providers serve instance metadata or platform services on. Most are in a refused
    /// range anyway; those that are not (Azure's) are named here.</summary>
    private static readonly IPAddress[] MetadataAddresses =
    [
        IPAddress.Parse("169.254.169.254"), IPAddress.Parse("169.254.170.2"), IPAddress.Parse("100.100.100.200"),
        IPAddress.Parse("168.63.129.16"), IPAddress.Parse("192.0.0.192"), IPAddress.Parse("fd00:ec2::254"),
    ];

    /// <summary>How long a submission waits for its webhook's host to resolve.</summary>
    public static readonly TimeSpan SubmissionLookupTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Why a destination's port is refused; null when it is allowed.</summary>
    public static string? PortRefusal(int port) =>
        port is 80 or 443 or (>= 1024 and <= 65535)
            ? null
            : $"Port {port} is not allowed for webhooks; use 80, 443 or a port from 1024 to 65535.";

    /// <summary>The class of address <paramref name="address"/> belongs to when webhooks may not go there; null when
    /// it is a public address.</summary>
    public static string? Classify(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (MetadataAddresses.Any(address.Equals) || (address.IsIPv4MappedToIPv6 && MetadataAddresses.Any(address.MapToIPv4().Equals)))
            return "a cloud metadata address";
        if (address.IsIPv4MappedToIPv6)
            return Classify(address.MapToIPv4());

        return address.AddressFamily switch
        {
            AddressFamily.InterNetwork => ClassifyV4(address.GetAddressBytes()),
            AddressFamily.InterNetworkV6 => ClassifyV6(address),
            _ => "not an IP address",
        };
    }

    private static string? ClassifyV4(byte[] b) => (b[0], b[1], b[2], b[3]) switch
    {
        (0, _, _, _) => "an unspecified address (0.0.0.0/8)",
        (10, _, _, _) => "a private address (10.0.0.0/8)",
        (100, >= 64 and <= 127, _, _) => "a shared (CGNAT) address (100.64.0.0/10)",
        (127, _, _, _) => "a loopback address (127.0.0.0/8)",
        (169, 254, _, _) => "a link-local address (169.254.0.0/16)",
        (172, >= 16 and <= 31, _, _) => "a private address (172.16.0.0/12)",
        (192, 0, 0, _) => "a reserved address (192.0.0.0/24)",
        (192, 0, 2, _) or (198, 51, 100, _) or (203, 0, 113, _) => "a documentation address",
        (192, 168, _, _) => "a private address (192.168.0.0/16)",
        (198, 18 or 19, _, _) => "a benchmarking address (198.18.0.0/15)",
        (255, 255, 255, 255) => "the broadcast address",
        (>= 224 and <= 239, _, _, _) => "a multicast address (224.0.0.0/4)",
        (>= 240, _, _, _) => "a reserved address (240.0.0.0/4)",
        _ => null,
    };

    private static string? ClassifyV6(IPAddress address)
    {
        if (address.Equals(IPAddress.IPv6Any))
            return "an unspecified address (::)";
        if (address.Equals(IPAddress.IPv6Loopback))
            return "a loopback address (::1)";

        var b = address.GetAddressBytes();
        if (b[0] == 0xff)
            return "a multicast address (ff00::/8)";
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
            return "a link-local address (fe80::/10)";
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
            return "a site-local address (fec0::/10)";
        if ((b[0] & 0xfe) == 0xfc)
            return "a unique local address (fc00::/7)";
        if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
            return "a documentation address (2001:db8::/32)";

        // IPv4 carried inside IPv6 reaches the IPv4 address it carries: IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96)
        // and 6to4 (2002::/16). Teredo (2001::/32) hides its address obfuscated and is refused outright.
        if (b.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0)
            return ClassifyV4(b[12..16]) ?? "an IPv4-compatible address (::/96)";
        if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b.AsSpan(4, 8).IndexOfAnyExcept((byte)0) < 0)
            return ClassifyV4(b[12..16]);
        if (b[0] == 0x20 && b[1] == 0x02)
            return ClassifyV4(b[2..6]);
        if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00)
            return "a Teredo address (2001::/32)";
        if (b[0] == 0x01 && b.AsSpan(1, 7).IndexOfAnyExcept((byte)0) < 0)
            return "a discard address (100::/64)";
        return null;
    }

    /// <summary>
    /// Resolves <paramref name="host"/> and checks every address. Returns the addresses when all are allowed, else null
    /// with the reason.
    /// </summary>
    /// <param name="host">A name or an address literal.</param>
    /// <param name="lookupFailureIsRefusal">True at submission: a name that does not resolve is refused. False at
    /// delivery, where a failed lookup throws and the attempt is retried like any connection error.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    public async Task<(IPAddress[]? Addresses, string? Refusal)> ResolveAsync(string host, bool lookupFailureIsRefusal,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        IPAddress[] addresses;
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal))
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                addresses = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException exception) when (lookupFailureIsRefusal)
            {
                return (null, $"The webhook's host '{host}' could not be resolved ({exception.SocketErrorCode}).");
            }
        }

        if (addresses.Length == 0)
            return (null, $"The webhook's host '{host}' has no addresses.");
        if (options.Value.AllowPrivateNetworks)
            return (addresses, null);

        foreach (var address in addresses)
        {
            if (Classify(address) is { } refused)
                return (null, $"The webhook's host '{host}' resolves to {address}, {refused}; webhooks may only go to public addresses.");
        }

        return (addresses, null);
    }

    /// <summary>Why <paramref name="uri"/> may not receive webhooks; null when it may.</summary>
    public async Task<string?> CheckAsync(Uri uri, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (PortRefusal(uri.Port) is { } port)
            return port;

        // A name server that does not answer must not hold the submission for the resolver's own, long timeout.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(SubmissionLookupTimeout);
        try
        {
            return (await ResolveAsync(uri.IdnHost, lookupFailureIsRefusal: true, timeout.Token).ConfigureAwait(false)).Refusal;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"The webhook's host '{uri.IdnHost}' could not be resolved within {SubmissionLookupTimeout.TotalSeconds:0} s.";
        }
    }

    /// <summary>
    /// The HTTP client's connection: resolves the host once, checks every address, and connects to a checked one, so
    /// that no second lookup can lead elsewhere. A refusal fails the attempt with <see cref="WebhookDestinationRefusedException"/>.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var endpoint = context.DnsEndPoint;
        if (PortRefusal(endpoint.Port) is { } port)
            throw new WebhookDestinationRefusedException(port);

        var (addresses, refusal) = await ResolveAsync(endpoint.Host, lookupFailureIsRefusal: false, cancellationToken).ConfigureAwait(false);
        if (addresses is null)
            throw new WebhookDestinationRefusedException(refusal!);

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync([.. addresses.Select(a => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a)], endpoint.Port, cancellationToken)
                .ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
