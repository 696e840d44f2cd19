using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Engine.Cli;

/// <summary>How the CLI reaches a server that needs a key, or whose certificate is self-signed or from a private CA.</summary>
public static class ServerAccess
{
    public static HttpMessageHandler Handler(string? apiKey, string? caCertificatePath)
    {
        var sockets = new SocketsHttpHandler { EnableMultipleHttp2Connections = true };
        if (!string.IsNullOrWhiteSpace(caCertificatePath))
        {
            X509Certificate2Collection roots;
            try
            {
                roots = [];
                roots.ImportFromPemFile(caCertificatePath);
            }
            catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
            {
                throw new UsageException($"ENGINE_CA_CERT: cannot read a PEM certificate from {caCertificatePath}: {e.Message}");
            }
            sockets.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) => Trusted(certificate, errors, roots);
        }
        return string.IsNullOrWhiteSpace(apiKey) ? sockets : new BearerHandler(apiKey.Trim()) { InnerHandler = sockets };
    }

    /// <summary>
    /// Trusted by the system, or chaining to one of <paramref name="roots"/> (only the roots given, not the system's).
    /// The name must match either way.
    /// </summary>
    private static bool Trusted(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection roots)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate as X509Certificate2 ?? new X509Certificate2(certificate));
    }

    private sealed class BearerHandler(string key) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            return base.SendAsync(request, cancellationToken);
        }
    }
}
