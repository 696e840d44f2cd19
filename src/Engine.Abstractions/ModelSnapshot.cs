namespace Engine.Abstractions;

/// <summary>
/// A published, versioned segmentation model. Centroids are in scaled space (after log1p and the scaler), row-major
/// k × d; <see cref="SegmentIds"/>[i] and <see cref="Names"/>[i] label centroid i. Immutable: a retrain publishes a new one.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.ModelSnapshot")]
public sealed record ModelSnapshot(
    [property: Id(0)] long Version,
    [property: Id(1)] int K,
    [property: Id(2)] int D,
    [property: Id(3)] float[] Centroids,
    [property: Id(4)] double[] ScalerMean,
    [property: Id(5)] double[] ScalerStd,
    [property: Id(6)] string[] SegmentIds,
    [property: Id(7)] string[] Names,
    [property: Id(8)] DateTime TrainedAt,
    [property: Id(9)] long Customers,
    [property: Id(10)] double Inertia,
    [property: Id(11)] int Iterations,
    [property: Id(12)] string Reason,
    [property: Id(13)] int Revision = 0,
    [property: Id(14)] DriftBaseline? Baseline = null,
    [property: Id(15)] ClvFit? Clv = null)
{
    /// <summary>The segment of every customer while no model exists.</summary>
    public const string Unassigned = Core.Unassigned.SegmentId;

    public string NameOf(string segmentId)
    {
        var i = Array.IndexOf(SegmentIds, segmentId);
        return i < 0 ? segmentId : Names[i];
    }
}

/// <summary>
/// What the population looked like when a model was trained, for drift: per clustering feature the interior bin edges
/// (deciles, in the model's scaled space) and the share of customers per bin; and the share of customers per segment.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.DriftBaseline")]
public sealed record DriftBaseline(
    [property: Id(0)] double[][] Edges,
    [property: Id(1)] double[][] FeatureShares,
    [property: Id(2)] double[] SegmentShares);

/// <summary>Population Stability Index of each feature and of the segment sizes against the model's baseline.</summary>
[GenerateSerializer, Immutable, Alias("engine.DriftReport")]
public sealed record DriftReport(
    [property: Id(0)] long ModelVersion,
    [property: Id(1)] double[] FeaturePsi,
    [property: Id(2)] double SegmentPsi,
    [property: Id(3)] double Threshold,
    [property: Id(4)] long Customers,
    [property: Id(5)] long[]? SegmentSizes = null)
{
    public double Max => Math.Max(SegmentPsi, FeaturePsi.DefaultIfEmpty(0).Max());

    public bool Drifted => Max > Threshold;
}

/// <summary>One segment's share of the population: customers, and per feature the sum in original units.</summary>
[GenerateSerializer, Immutable, Alias("engine.SegmentProfile")]
public sealed record SegmentProfile([property: Id(0)] long Count, [property: Id(1)] double[] Sums);

/// <summary>What a retrain did, returned once the model is published and customers are reassigned.</summary>
[GenerateSerializer, Immutable, Alias("engine.RetrainOutcome")]
public sealed record RetrainOutcome(
    [property: Id(0)] ModelSnapshot Model,
    [property: Id(1)] double Seconds,
    [property: Id(2)] long Reassigned,
    [property: Id(3)] KCandidate[] Candidates,
    [property: Id(4)] long Excluded = 0);
