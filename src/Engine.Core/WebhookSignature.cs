using System.Security.Cryptography;
using System.Text;

namespace Engine.Core;

/// <summary>
/// Standard Webhooks signatures (standardwebhooks.com): <c>webhook-signature: v1,&lt;base64 HMAC-SHA256 of
/// "id.timestamp.body"&gt;</c> under the secret's key. A <c>whsec_</c> secret's key is the base64 after the prefix (what
/// the server generates); any other secret's key is its UTF-8 bytes (secrets chosen before 0.2.0).
/// </summary>
public static class WebhookSignature
{
    public const string Prefix = "whsec_";

    /// <summary>A new secret: <c>whsec_</c> and 24 random bytes in base64.</summary>
    public static string NewSecret() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));

    /// <summary>The HMAC key of a secret; null for a <c>whsec_</c> secret whose rest is not base64.</summary>
    public static byte[]? Key(string secret)
    {
        if (!secret.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return Encoding.UTF8.GetBytes(secret);
        }
        var key = new byte[secret.Length];
        return Convert.TryFromBase64String(secret[Prefix.Length..], key, out var n) && n > 0 ? key[..n] : null;
    }

    /// <summary>The <c>webhook-signature</c> value of one message.</summary>
    public static string Sign(byte[] key, string messageId, long timestamp, string body) =>
        "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{messageId}.{timestamp}.{body}")));
}
