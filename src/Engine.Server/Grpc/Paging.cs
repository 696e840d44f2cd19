using System.Text;
using Grpc.Core;

namespace Engine.Server.Grpc;

/// <summary>
/// One page of a list the service holds in full (a customer's retained history, the webhooks, the dead letters):
/// the page token is the key of the last item returned, so a page reads on after it even when items were added or
/// removed meanwhile. Tokens are opaque to clients (base64url).
/// </summary>
public static class Paging
{
    public const int MaxPageSize = 1000;
    public const int DefaultPageSize = 100;

    /// <param name="ordered">The items in list order; <paramref name="keyOf"/> is unique and grows in that order under <paramref name="order"/>.</param>
    public static (T[] Page, string NextPageToken) Page<T>(IReadOnlyList<T> ordered, int pageSize, string pageToken, Func<T, string> keyOf,
        IComparer<string> order)
    {
        if (pageSize is < 0 or > MaxPageSize)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"page_size: must be 0 to {MaxPageSize}, got {pageSize}"));
        }
        var size = pageSize == 0 ? DefaultPageSize : pageSize;
        var start = 0;
        if (pageToken.Length > 0)
        {
            var after = Decode(pageToken);
            start = ordered.Count;
            for (var i = 0; i < ordered.Count; i++)
            {
                if (order.Compare(keyOf(ordered[i]), after) > 0)
                {
                    start = i;
                    break;
                }
            }
        }
        var page = ordered.Skip(start).Take(size).ToArray();
        return (page, start + page.Length < ordered.Count ? Encode(keyOf(page[^1])) : "");
    }

    /// <summary>Keys that are numbers, in numeric order (the log's cursors, transition numbers).</summary>
    public static readonly IComparer<string> Numeric = Comparer<string>.Create((a, b) => Number(a).CompareTo(Number(b)));

    /// <summary>Numeric keys, largest first (a history, newest first).</summary>
    public static readonly IComparer<string> NumericDescending = Comparer<string>.Create((a, b) => Number(b).CompareTo(Number(a)));

    private static long Number(string key) => long.TryParse(key, out var n)
        ? n
        : throw new RpcException(new Status(StatusCode.InvalidArgument, "page_token: not a token of this list (pass next_page_token as it came)"));

    private static string Encode(string key) => Convert.ToBase64String(Encoding.UTF8.GetBytes(key)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Decode(string token)
    {
        try
        {
            var padded = token.Replace('-', '+').Replace('_', '/');
            return Encoding.UTF8.GetString(Convert.FromBase64String(padded + new string('=', (4 - padded.Length % 4) % 4)));
        }
        catch (FormatException)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "page_token: not a token of this list (pass next_page_token as it came)"));
        }
    }
}
