namespace Engine.Abstractions;

/// <summary>A shard's first and second moments of its transformed features, to fit the scaler without moving rows.</summary>
[GenerateSerializer, Immutable, Alias("engine.Moments")]
public sealed record Moments([property: Id(0)] long Count, [property: Id(1)] double[] Sum, [property: Id(2)] double[] SumOfSquares);

/// <summary>
/// A shard's share of one Lloyd iteration: per-centroid sums (k × d) and counts plus its inertia. O(k·d), never points.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.PartialSums")]
public sealed record PartialSums([property: Id(0)] double[] Sums, [property: Id(1)] long[] Counts, [property: Id(2)] double Inertia);

/// <summary>Per-segment customer counts of one shard.</summary>
[GenerateSerializer, Immutable, Alias("engine.SegmentCounts")]
public sealed record SegmentCounts([property: Id(0)] Dictionary<string, long> Counts);
