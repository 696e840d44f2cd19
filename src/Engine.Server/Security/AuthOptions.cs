namespace Engine.Server.Security;

/// <summary>
/// <c>Engine:Auth</c>: the API keys (each stored as the SHA-256 of the key, never the key) and whether a server without
/// keys may listen beyond loopback. docs/security.md.
/// </summary>
public sealed class AuthOptions
{
    public const string Section = "Engine:Auth";

    /// <summary><c>Engine:Auth:Keys:N:Name</c>, <c>…:Sha256</c>, <c>…:Roles</c>.</summary>
    public List<ApiKeyOptions> Keys { get; set; } = [];

    /// <summary>Serve every RPC without a key on a non-loopback address (off: such a start is refused).</summary>
    public bool AllowAnonymous { get; set; }
}

public sealed class ApiKeyOptions
{
    /// <summary>Who acts with the key, as the audit log names it.</summary>
    public string? Name { get; set; }

    /// <summary>Lowercase hex SHA-256 of the key's UTF-8 bytes (<c>engine admin key create</c> prints it).</summary>
    public string? Sha256 { get; set; }

    /// <summary>Comma-separated: <c>ingest</c>, <c>read</c>, <c>admin</c>.</summary>
    public string? Roles { get; set; }
}

/// <summary>
/// <c>Engine:Tls</c>: a certificate for both the gRPC and the HTTP port. <see cref="CertificatePath"/> is a PKCS#12 file
/// (.pfx/.p12, with <see cref="CertificatePassword"/> if it has one) or a PEM certificate with its key in
/// <see cref="KeyPath"/> (or in the same file).
/// </summary>
public sealed class TlsOptions
{
    public const string Section = "Engine:Tls";

    public string? CertificatePath { get; set; }
    public string? CertificatePassword { get; set; }
    public string? KeyPath { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);
}
