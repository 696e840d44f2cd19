using System.Security.Cryptography;
using System.Text;

namespace Engine.Server.Security;

/// <summary>Who presented a key: its name and roles. <see cref="Anonymous"/> when the server has no keys.</summary>
public sealed record ApiCaller(string Name, Role Roles)
{
    public static readonly ApiCaller Anonymous = new(Engine.Storage.AuditLog.Anonymous, Role.Ingest | Role.Read | Role.Admin);

    public bool May(Role role) => (Roles & role) == role;
}

/// <summary>
/// The configured keys, checked at start. A presented key is hashed and compared with every configured hash in
/// constant time, so neither a match's position nor a hash's common prefix shows in the time an answer takes.
/// </summary>
public sealed class ApiKeys
{
    private readonly (byte[] Hash, ApiCaller Caller)[] _keys;

    private ApiKeys((byte[] Hash, ApiCaller Caller)[] keys) => _keys = keys;

    /// <summary>No keys: every RPC is served to anyone who reaches the ports (loopback only, unless AllowAnonymous).</summary>
    public bool Enabled => _keys.Length > 0;

    public int Count => _keys.Length;

    /// <summary>The keys of <paramref name="options"/>; the failures name each bad setting (<c>Engine:Auth:Keys:1:Sha256: …</c>).</summary>
    public static ApiKeys From(AuthOptions options, List<string> failures)
    {
        var keys = new List<(byte[], ApiCaller)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Keys.Count; i++)
        {
            var key = options.Keys[i];
            var at = $"{AuthOptions.Section}:Keys:{i}";
            var ok = true;
            if (string.IsNullOrWhiteSpace(key.Name))
            {
                failures.Add($"{at}:Name: required (who acts with the key, as the audit log names it)");
                ok = false;
            }
            else if (!names.Add(key.Name.Trim()))
            {
                failures.Add($"{at}:Name: '{key.Name}' names another key too");
                ok = false;
            }
            byte[]? hash = null;
            if (key.Sha256?.Trim() is not { Length: 64 } hex || !hex.All(char.IsAsciiHexDigit))
            {
                failures.Add($"{at}:Sha256: must be the 64 hex digits of the key's SHA-256 (`engine admin key create` prints it)");
                ok = false;
            }
            else
            {
                hash = Convert.FromHexString(hex);
            }
            var roles = Role.None;
            foreach (var word in (key.Roles ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (Roles.Parse(word) is { } role)
                {
                    roles |= role;
                }
                else
                {
                    failures.Add($"{at}:Roles: '{word}' is not a role (ingest, read, admin)");
                    ok = false;
                }
            }
            if (roles == Role.None && ok)
            {
                failures.Add($"{at}:Roles: required, comma-separated: ingest, read, admin");
                ok = false;
            }
            if (ok)
            {
                keys.Add((hash!, new ApiCaller(key.Name!.Trim(), roles)));
            }
        }
        return new ApiKeys([.. keys]);
    }

    /// <summary>Lowercase hex SHA-256 of a key's UTF-8 bytes: what <c>Engine:Auth:Keys:N:Sha256</c> holds.</summary>
    public static string HashOf(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>The caller a key belongs to; null for an unknown key. Looks at every configured key whatever matches.</summary>
    public ApiCaller? Find(string key)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), hash);
        ApiCaller? found = null;
        foreach (var (known, caller) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, known))
            {
                found = caller;
            }
        }
        return found;
    }

    /// <summary>The key of an <c>authorization: Bearer KEY</c> header value; null if there is none.</summary>
    public static string? BearerOf(string? header)
    {
        const string scheme = "Bearer ";
        return header is { } h && h.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) && h.Length > scheme.Length
            ? h[scheme.Length..].Trim()
            : null;
    }
}
