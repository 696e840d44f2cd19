namespace Engine.Abstractions;

/// <summary>
/// One listing of a segment's members, read page by page (<c>ListSegmentMembers</c>): the members as of its first
/// page, sorted by customer id, held in memory until no page has been read for a while (Orleans' idle collection), so
/// the pages add up to the segment's size at the first page however the population moves meanwhile. Keyed by a new
/// id per listing.
/// </summary>
[Alias("engine.IMemberListGrain")]
public interface IMemberListGrain : IGrainWithGuidKey
{
    /// <summary>Takes the snapshot from every shard; returns how many members it holds.</summary>
    [Alias("Create")]
    Task<int> CreateAsync(string segmentId);

    /// <summary>Members <paramref name="offset"/> on, at most <paramref name="count"/>; null if this listing has no
    /// snapshot (it expired, or never was).</summary>
    [Alias("Page")]
    Task<string[]?> PageAsync(int offset, int count);
}
