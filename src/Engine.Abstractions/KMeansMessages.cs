namespace Engine.Abstractions;

/// <summary>
/// A shard's first and second moments of its transformed features, to fit the scaler without moving rows; and how many
/// rows it left out of training because their features were not finite.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.Moments")]
public sealed record Moments([property: Id(0)] long Count, [property: Id(1)] double[] Sum, [property: Id(2)] double[] SumOfSquares,
    [property: Id(3)] long Excluded = 0);

/// <summary>
/// A shard's share of one Lloyd iteration: per-centroid sums (k × d) and counts plus its inertia. O(k·d), never points.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.PartialSums")]
public sealed record PartialSums([property: Id(0)] double[] Sums, [property: Id(1)] long[] Counts, [property: Id(2)] double Inertia);

/// <summary>Per-segment customer counts of one shard.</summary>
[GenerateSerializer, Immutable, Alias("engine.SegmentCounts")]
public sealed record SegmentCounts([property: Id(0)] Dictionary<string, long> Counts);

/// <summary>Training rows (row-major) with the cluster each belongs to.</summary>
[GenerateSerializer, Immutable, Alias("engine.LabelledSample")]
public sealed record LabelledSample([property: Id(0)] float[] Rows, [property: Id(1)] int[] Labels);

/// <summary>One candidate k of an automatic retrain: its fit and how well separated its clusters are.</summary>
[GenerateSerializer, Immutable, Alias("engine.KCandidate")]
public sealed record KCandidate(
    [property: Id(0)] int K,
    [property: Id(1)] double Inertia,
    [property: Id(2)] double Silhouette,
    [property: Id(3)] int Iterations,
    [property: Id(4)] int SampleSize);

/// <summary>The result of a fit over the shards' training matrices.</summary>
[GenerateSerializer, Immutable, Alias("engine.FitResult")]
public sealed record FitResult(
    [property: Id(0)] int K,
    [property: Id(1)] float[] Centroids,
    [property: Id(2)] double Inertia,
    [property: Id(3)] int Iterations,
    [property: Id(4)] long Rows,
    [property: Id(5)] double SeedSeconds,
    [property: Id(6)] double Seconds,
    [property: Id(7)] long[] Sizes);

/// <summary>A shard's drift histograms: per feature, counts per baseline bin; and customers per model segment.</summary>
[GenerateSerializer, Immutable, Alias("engine.DriftCounts")]
public sealed record DriftCounts([property: Id(0)] long[][] Features, [property: Id(1)] long[] Segments);
