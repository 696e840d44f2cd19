using System.Net;
using System.Net.Sockets;
using Grpc.Core;

namespace Engine.Server.Alerts;

/// <summary>
/// Where webhooks may post (<c>Engine:Webhooks</c>). By default only to global unicast addresses, so that a webhook
/// cannot reach the server's own loopback, the internal network or a cloud metadata endpoint (a server-side request
/// forgery path); <see cref="AllowPrivateTargets"/> lifts that for receivers on the same machine or network.
/// </summary>
public sealed class WebhookTargetOptions
{
    public const string Section = "Engine:Webhooks";

    public bool AllowPrivateTargets { get; set; }
}

/// <summary>A delivery's target resolved to no allowed address: nothing was sent, and the alert counts as refused.</summary>
public sealed class WebhookTargetRefusedException(string message) : Exception(message);

/// <summary>
/// The one rule for webhook target addresses, used when a webhook is created (its host resolved and every address
/// checked) and again when it is delivered to (<see cref="ConnectAsync"/> resolves, checks and connects to the checked
/// address, so a DNS answer that changed since creation, a rebinding, cannot reach a refused address).
/// </summary>
public static class WebhookTargets
{
    /// <summary>Whether an address is global unicast: not loopback, private, link-local, multicast, unspecified, CGNAT, documentation or reserved.</summary>
    public static bool IsGlobal(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] == 0                                   // 0.0.0.0/8: this network, unspecified
                || b[0] == 10                                    // RFC 1918
                || b[0] == 127                                   // loopback
                || (b[0] == 100 && (b[1] & 0xC0) == 64)          // 100.64/10: CGNAT
                || (b[0] == 169 && b[1] == 254)                  // link-local, incl. 169.254.169.254 (metadata)
                || (b[0] == 172 && (b[1] & 0xF0) == 16)          // RFC 1918
                || (b[0] == 192 && b[1] == 0 && b[2] == 0)       // IETF protocol assignments
                || (b[0] == 192 && b[1] == 0 && b[2] == 2)       // documentation
                || (b[0] == 192 && b[1] == 168)                  // RFC 1918
                || (b[0] == 198 && (b[1] & 0xFE) == 18)          // benchmarking
                || (b[0] == 198 && b[1] == 51 && b[2] == 100)    // documentation
                || (b[0] == 203 && b[1] == 0 && b[2] == 113)     // documentation
                || b[0] >= 224);                                 // multicast, reserved, broadcast
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var b = address.GetAddressBytes();
            return !(address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.IPv6Loopback)
                || b[0] == 0                                     // ::/8: unspecified, loopback, IPv4-compatible
                || (b[0] & 0xFE) == 0xFC                         // fc00::/7: unique local
                || (b[0] == 0xFE && (b[1] & 0xC0) == 0x80)       // fe80::/10: link-local
                || (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0)       // fec0::/10: site-local (deprecated)
                || b[0] == 0xFF                                  // multicast
                || (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8) // 2001:db8::/32: documentation
                || (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B)); // 64:ff9b::/96: NAT64 of any IPv4
        }
        return false;
    }

    /// <summary>The host's addresses: the literal itself, or what DNS answers.</summary>
    public static async Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct)
    {
        var literal = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        return IPAddress.TryParse(literal, out var address) ? [address] : await Dns.GetHostAddressesAsync(literal, ct);
    }

    /// <summary>
    /// The creation-time check: INVALID_ARGUMENT naming <c>url</c> when the host does not resolve or any of its addresses
    /// is not global (unless private targets are allowed).
    /// </summary>
    public static async Task CheckAsync(Uri url, bool allowPrivate, CancellationToken ct)
    {
        if (allowPrivate)
        {
            return;
        }
        IPAddress[] addresses;
        try
        {
            addresses = await ResolveAsync(url.Host, ct);
        }
        catch (SocketException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"url: host '{url.Host}' does not resolve ({e.SocketErrorCode})"));
        }
        if (addresses.Length == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"url: host '{url.Host}' does not resolve"));
        }
        if (addresses.FirstOrDefault(a => !IsGlobal(a)) is { } refused)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"url: '{url.Host}' is {refused}, a loopback, private, link-local, multicast or otherwise non-global address; " +
                $"set {WebhookTargetOptions.Section}:AllowPrivateTargets=true to allow it"));
        }
    }

    /// <summary>
    /// The delivery-time check, as a <see cref="SocketsHttpHandler.ConnectCallback"/>: resolves the host, keeps the
    /// allowed addresses and connects to the first that answers. With none allowed the request fails before any packet
    /// is sent to the refused address.
    /// </summary>
    public static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, bool allowPrivate, CancellationToken ct)
    {
        var addresses = await ResolveAsync(endpoint.Host, ct);
        var allowed = allowPrivate ? addresses : addresses.Where(IsGlobal).ToArray();
        if (allowed.Length == 0)
        {
            throw new WebhookTargetRefusedException(
                $"webhook target '{endpoint.Host}' resolves to no allowed address ({string.Join(", ", addresses.Select(a => a.ToString()))})");
        }
        SocketException? last = null;
        foreach (var address in allowed)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endpoint.Port), ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw new HttpRequestException($"webhook target '{endpoint.Host}': {last?.Message}", last);
    }
}
