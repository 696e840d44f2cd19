namespace Engine.Core;

/// <summary>Which family a segment belongs to. Values match <c>engine.v1.SegmentKind</c>.</summary>
public enum SegmentKind
{
    /// <summary>In a filter: that filter's default.</summary>
    Unspecified = 0,
    /// <summary>A segment of the k-means model.</summary>
    Learned = 1,
    /// <summary>A named RFM segment (ids "rfm:…").</summary>
    Rfm = 2,
}

/// <summary>The kind of a segment or of a move, read from the segment id: RFM ids are reserved by their prefix.</summary>
public static class SegmentKinds
{
    /// <summary>The kind of the segment <paramref name="segmentId"/>; a move has the kind of the segment it goes to.</summary>
    public static SegmentKind Of(string segmentId) =>
        segmentId.StartsWith(RfmScores.IdPrefix, StringComparison.Ordinal) ? SegmentKind.Rfm : SegmentKind.Learned;

    /// <summary>
    /// The kinds a filter asks for: the ones it names, or <see cref="SegmentKind.Learned"/> when it names none (every
    /// call answered only learned moves before RFM moves existed, and still does unless asked).
    /// </summary>
    public static IReadOnlySet<SegmentKind> Requested(IEnumerable<SegmentKind> kinds)
    {
        var set = kinds.Where(k => k != SegmentKind.Unspecified).ToHashSet();
        return set.Count == 0 ? LearnedOnly : set;
    }

    private static readonly IReadOnlySet<SegmentKind> LearnedOnly = new HashSet<SegmentKind> { SegmentKind.Learned };
}
