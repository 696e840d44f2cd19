using Engine.Grains;
using Grpc.Core;

namespace Engine.Server.Grpc;

/// <summary>
/// One page of a list the service holds in full (a customer's retained history, the webhooks, the dead letters):
/// the page token is the key of the last item returned, so a page reads on after it even when items were added or
/// removed meanwhile (<see cref="PageTokens"/>).
/// </summary>
public static class Paging
{
    public const int MaxPageSize = 1000;
    public const int DefaultPageSize = 100;

    /// <param name="ordered">The items in list order; <paramref name="keyOf"/> is unique and grows in that order under <paramref name="order"/>.</param>
    public static (T[] Page, string NextPageToken) Page<T>(IReadOnlyList<T> ordered, int pageSize, string pageToken, Func<T, string> keyOf,
        IComparer<string> order)
    {
        var size = Size(pageSize);
        var start = 0;
        if (pageToken.Length > 0)
        {
            var after = PageTokens.Decode(pageToken) ?? throw NotAToken();
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
        return (page, start + page.Length < ordered.Count ? PageTokens.Encode(keyOf(page[^1])) : "");
    }

    /// <summary>A request's <c>page_size</c> checked (0 to <see cref="MaxPageSize"/>), 0 meaning <see cref="DefaultPageSize"/>.</summary>
    public static int Size(int pageSize) => pageSize switch
    {
        0 => DefaultPageSize,
        < 0 or > MaxPageSize => throw new RpcException(new Status(StatusCode.InvalidArgument, $"page_size: must be 0 to {MaxPageSize}, got {pageSize}")),
        _ => pageSize,
    };

    /// <summary>Numeric keys, largest first (a history, newest first).</summary>
    public static readonly IComparer<string> NumericDescending = Comparer<string>.Create((a, b) => Number(b).CompareTo(Number(a)));

    private static long Number(string key) => long.TryParse(key, out var n) ? n : throw NotAToken();

    /// <summary>The number a numeric list's <paramref name="pageToken"/> carries (the last id or version returned), at least 1.</summary>
    public static long NumberAfter(string pageToken) =>
        PageTokens.Decode(pageToken) is { } text && long.TryParse(text, out var n) && n >= 1 ? n : throw NotAToken();

    public static RpcException NotAToken() =>
        new(new Status(StatusCode.InvalidArgument, "page_token: not a token of this list (pass next_page_token as it came)"));
}
