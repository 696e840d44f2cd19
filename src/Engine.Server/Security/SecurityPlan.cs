using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Engine.Server.Security;

/// <summary>
/// Where the gRPC and HTTP ports listen, with which keys and certificate (docs/security.md). The rule: without API keys
/// the server listens on loopback only; <c>Engine:ListenAddress</c> unset means loopback without keys and every
/// interface with keys; a non-loopback address without keys stops the start unless <c>Engine:Auth:AllowAnonymous=true</c>.
/// Only the two client ports: the Orleans silo and gateway ports are the cluster's own (docs/security.md, "Not covered").
/// </summary>
public sealed partial class SecurityPlan
{
    public const string ListenAddressKey = "Engine:ListenAddress";

    private SecurityPlan(ApiKeys keys, AuthOptions auth, IPAddress? address, X509Certificate2? certificate)
    {
        Keys = keys;
        Auth = auth;
        Address = address;
        Certificate = certificate;
    }

    public ApiKeys Keys { get; }
    public AuthOptions Auth { get; }

    /// <summary>The address the ports listen on; null for loopback (127.0.0.1 and ::1).</summary>
    public IPAddress? Address { get; }

    public X509Certificate2? Certificate { get; }

    public bool LoopbackOnly => Address is null;

    /// <summary>The plan of <paramref name="configuration"/>; a bad setting throws, naming it (the start fails with that line).</summary>
    public static SecurityPlan From(IConfiguration configuration)
    {
        var failures = new List<string>();
        var auth = configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();
        var keys = ApiKeys.From(auth, failures);
        var setting = configuration[ListenAddressKey]?.Trim() ?? "";
        IPAddress? address = null;
        switch (setting.ToLowerInvariant())
        {
            case "":
                address = auth.Keys.Count > 0 ? IPAddress.IPv6Any : null;
                break;
            case "loopback" or "localhost":
                break;
            case "any" or "*":
                address = IPAddress.IPv6Any;
                break;
            default:
                if (IPAddress.TryParse(setting, out var parsed))
                {
                    address = IPAddress.IsLoopback(parsed) ? null : parsed;
                }
                else
                {
                    failures.Add($"{ListenAddressKey}: '{setting}' is not loopback, any or an IP address");
                }
                break;
        }
        if (address is not null && auth.Keys.Count == 0 && !auth.AllowAnonymous)
        {
            failures.Add($"{ListenAddressKey}: {setting} listens beyond loopback, and no API keys are configured: configure "
                + $"{AuthOptions.Section}:Keys (docs/security.md) or set {AuthOptions.Section}:AllowAnonymous=true");
        }
        var tls = configuration.GetSection(TlsOptions.Section).Get<TlsOptions>() ?? new TlsOptions();
        var certificate = tls.Enabled ? Load(tls, failures) : null;
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(AuthOptions.Section, typeof(AuthOptions), failures);
        }
        return new SecurityPlan(keys, auth, address, certificate);
    }

    private static X509Certificate2? Load(TlsOptions tls, List<string> failures)
    {
        var path = tls.CertificatePath!;
        try
        {
            var extension = Path.GetExtension(path).ToLowerInvariant();
            if (extension is ".pfx" or ".p12")
            {
                return X509CertificateLoader.LoadPkcs12FromFile(path, tls.CertificatePassword);
            }
            return string.IsNullOrWhiteSpace(tls.CertificatePassword)
                ? X509Certificate2.CreateFromPemFile(path, tls.KeyPath)
                : X509Certificate2.CreateFromEncryptedPemFile(path, tls.CertificatePassword, tls.KeyPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            failures.Add($"{TlsOptions.Section}:CertificatePath: cannot load {path}: {ex.Message}");
            return null;
        }
    }

    /// <summary>One port, on the plan's address, with TLS when a certificate is configured.</summary>
    public void Listen(KestrelServerOptions kestrel, int port, HttpProtocols protocols)
    {
        void Configure(ListenOptions l)
        {
            l.Protocols = protocols;
            if (Certificate is not null)
            {
                l.UseHttps(Certificate);
            }
        }
        if (Address is null)
        {
            kestrel.ListenLocalhost(port, Configure);
        }
        else if (Address.Equals(IPAddress.IPv6Any))
        {
            kestrel.ListenAnyIP(port, Configure);
        }
        else
        {
            kestrel.Listen(Address, port, Configure);
        }
    }

    /// <summary>The start's one line about access: keys or none, where the ports listen, TLS or plaintext.</summary>
    public void Log(IServiceProvider services)
    {
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SecurityPlan).FullName!);
        var tls = Certificate is null ? "plaintext" : $"TLS (certificate {Certificate.Subject}, expires {Certificate.NotAfter.ToUniversalTime():yyyy-MM-dd})";
        if (!Keys.Enabled && LoopbackOnly)
        {
            LogLoopbackOnly(logger, tls);
        }
        else if (!Keys.Enabled)
        {
            LogAnonymous(logger, Address!.ToString(), tls);
        }
        else
        {
            LogKeys(logger, Keys.Count, LoopbackOnly ? "loopback" : Address!.Equals(IPAddress.IPv6Any) ? "every interface" : Address.ToString(), tls);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "No API keys configured: listening on loopback only (127.0.0.1, ::1), {Tls}; "
        + "configure Engine:Auth:Keys to serve other machines (docs/security.md)")]
    private static partial void LogLoopbackOnly(ILogger logger, string tls);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No API keys configured and Engine:Auth:AllowAnonymous=true: listening on {Address} for anyone, {Tls}")]
    private static partial void LogAnonymous(ILogger logger, string address, string tls);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} API keys configured: every RPC needs one; listening on {Address}, {Tls}")]
    private static partial void LogKeys(ILogger logger, int count, string address, string tls);
}
