using System.Text;

namespace Engine.Grains;

/// <summary>
/// The page tokens of every list RPC: what a listing needs to read on (a key, or a listing and an offset), opaque to
/// clients as base64url without padding.
/// </summary>
public static class PageTokens
{
    public static string Encode(string content) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(content)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The content of a token; null if the text is not one.</summary>
    public static string? Decode(string token)
    {
        var padded = token.Replace('-', '+').Replace('_', '/');
        padded += new string('=', (4 - padded.Length % 4) % 4);
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(padded));
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
