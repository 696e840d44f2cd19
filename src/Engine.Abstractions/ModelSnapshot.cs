namespace Engine.Abstractions;

/// <summary>
/// A published, versioned segmentation model. Centroids are in scaled space (after log1p and the scaler), row-major
/// k × d; <see cref="SegmentIds"/>[i] and <see cref="Names"/>[i] label centroid i. Immutable: a retrain publishes a new one.
/// The registry's metrics: <see cref="Silhouette"/> (mean, on the stratified sample), <see cref="TrainedSizes"/> (customers
/// per segment at publish), and once a newer model replaced it <see cref="RetiredDriftPsi"/> (the largest PSI against its
/// baseline then) and <see cref="RetiredAt"/>; <see cref="RolledBackFrom"/> names the version a rollback republished.
/// (The BG/NBD fit of the CLV work belongs here too once it lands.)
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
    [property: Id(15)] ClvFit? Clv = null,
    [property: Id(16)] RfmCutPoints? Rfm = null,
    [property: Id(20)] double Silhouette = 0,
    [property: Id(21)] long[]? TrainedSizes = null,
    [property: Id(22)] double? RetiredDriftPsi = null,
    [property: Id(23)] DateTime? RetiredAt = null,
    [property: Id(24)] long RolledBackFrom = 0)
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

/// <summary>
/// The RFM cut points of a model: per measure the 20/40/60/80% quantiles over the <see cref="Customers"/> customers
/// with at least one purchase when it was trained, in single precision (see <c>Engine.Core.RfmScores</c>). Empty
/// arrays when none had purchased.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.RfmCutPoints")]
public sealed record RfmCutPoints(
    [property: Id(0)] float[] RecencyDays,
    [property: Id(1)] float[] Frequency,
    [property: Id(2)] float[] Monetary,
    [property: Id(3)] long Customers)
{
    public bool IsEmpty => Customers == 0;
}

/// <summary>One shard's RFM values at one instant, for the customers with at least one purchase (three equal-length columns).</summary>
[GenerateSerializer, Immutable, Alias("engine.RfmColumns")]
public sealed record RfmColumns([property: Id(0)] float[] RecencyDays, [property: Id(1)] float[] Frequency, [property: Id(2)] float[] Monetary);

/// <summary>
/// One shard's customers per named RFM segment (in <c>RfmScores.Segments</c> order) and their monetary sums, under one
/// model's cut points; <see cref="WithoutPurchase"/> counts those with no purchase, who have no RFM segment. The value
/// sums are as in <see cref="SegmentProfile"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.RfmTally")]
public sealed record RfmTally([property: Id(0)] long[] Customers, [property: Id(1)] double[] Monetary, [property: Id(2)] long WithoutPurchase,
    [property: Id(3)] double[] PAliveSums, [property: Id(4)] double[] ClvSums)
{
    public static RfmTally Empty(int segments) => new(new long[segments], new double[segments], 0, new double[segments], new double[segments]);
}

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

/// <summary>
/// One segment's share of the population: customers, per feature the sum in original units, and the sums of the
/// customers' p_alive and CLV under the current model's fit (0 for a customer without one).
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.SegmentProfile")]
public sealed record SegmentProfile([property: Id(0)] long Count, [property: Id(1)] double[] Sums, [property: Id(2)] double PAliveSum = 0,
    [property: Id(3)] double ClvSum = 0)
{
    /// <summary>Two shards' profiles of one segment as one.</summary>
    public SegmentProfile Plus(SegmentProfile other) =>
        new(Count + other.Count, Sums.Zip(other.Sums, (a, b) => a + b).ToArray(), PAliveSum + other.PAliveSum, ClvSum + other.ClvSum);
}

/// <summary>What a retrain did, returned once the model is published and customers are reassigned.</summary>
[GenerateSerializer, Immutable, Alias("engine.RetrainOutcome")]
public sealed record RetrainOutcome(
    [property: Id(0)] ModelSnapshot Model,
    [property: Id(1)] double Seconds,
    [property: Id(2)] long Reassigned,
    [property: Id(3)] KCandidate[] Candidates,
    [property: Id(4)] long Excluded = 0);
