using Engine.Abstractions;

namespace Engine.Grains;

/// <summary>One page of a segment's members, with the listing's size at its first page.</summary>
public sealed record MembersPage(string SegmentId, string SegmentName, long ModelVersion, int TotalSize, CustomerView[] Customers, string? NextPageToken);

/// <summary>Why a members page cannot be read: the argument is named, as the API reports it.</summary>
public sealed class MembersPageException(string field, string message, bool notFound = false, bool expired = false) : Exception($"{field}: {message}")
{
    public bool NotFound { get; } = notFound;
    public bool Expired { get; } = expired;
}

/// <summary>
/// Pages through a segment of the current model: the first page snapshots the members (<see cref="IMemberListGrain"/>),
/// later pages read that snapshot through their page token; each member's view (segment, confidence, RFM) is read live.
/// </summary>
public sealed class SegmentMembers(IGrainFactory grains, CustomerGrains customers, ModelReplica models)
{
    public async Task<MembersPage> PageAsync(string segment, int pageSize, string pageToken, double minConfidence)
    {
        await models.RefreshAsync();
        var model = models.Current ?? throw new MembersPageException("segment", "no model exists yet: every customer is unassigned", notFound: true);
        Guid listing;
        int offset, total;
        string segmentId;
        if (pageToken.Length == 0)
        {
            segmentId = Resolve(model, segment);
            listing = Guid.NewGuid();
            offset = 0;
            total = await grains.GetGrain<IMemberListGrain>(listing).CreateAsync(segmentId);
        }
        else
        {
            (listing, offset, total, segmentId) = Parse(pageToken);
        }
        var ids = await grains.GetGrain<IMemberListGrain>(listing).PageAsync(offset, pageSize)
            ?? throw new MembersPageException("page_token", "this listing expired (no page was read for a while); start again without a page_token", expired: true);
        var views = await Task.WhenAll(ids.Select(id => customers.GetViewAsync(id).AsTask()));
        var next = offset + ids.Length < total ? Token(listing, offset + ids.Length, total, segmentId) : null;
        var name = model.SegmentIds.Contains(segmentId) ? model.NameOf(segmentId) : segmentId;
        return new MembersPage(segmentId, name, model.Version, total,
            [.. views.OfType<CustomerView>().Where(v => v.Confidence >= minConfidence)], next);
    }

    /// <summary>A segment by id (<c>seg-3</c>) or by name (<c>At risk</c>, any case).</summary>
    private static string Resolve(ModelSnapshot model, string segment)
    {
        if (model.SegmentIds.Contains(segment))
        {
            return segment;
        }
        var byName = Enumerable.Range(0, model.K).Where(i => string.Equals(model.Names[i], segment, StringComparison.OrdinalIgnoreCase)).ToList();
        return byName.Count == 1
            ? model.SegmentIds[byName[0]]
            : throw new MembersPageException("segment", $"no segment '{segment}' in model {model.Version} (segments: {string.Join(", ", Enumerable.Range(0, model.K).Select(i => $"{model.SegmentIds[i]} \"{model.Names[i]}\""))})", notFound: true);
    }

    private static string Token(Guid listing, int offset, int total, string segmentId) =>
        PageTokens.Encode($"{listing:N}:{offset}:{total}:{segmentId}");

    private static (Guid, int, int, string) Parse(string token)
    {
        var parts = PageTokens.Decode(token)?.Split(':', 4);
        return parts is { Length: 4 } && Guid.TryParseExact(parts[0], "N", out var listing) && int.TryParse(parts[1], out var offset)
            && int.TryParse(parts[2], out var total) && offset >= 0 && total >= offset
            ? (listing, offset, total, parts[3])
            : throw new MembersPageException("page_token", "not a page token of this listing (pass next_page_token as it came)");
    }
}
