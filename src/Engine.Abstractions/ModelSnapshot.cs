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
    [property: Id(12)] string Reason)
{
    /// <summary>The segment of every customer while no model exists.</summary>
    public const string Unassigned = "unassigned";

    public string NameOf(string segmentId)
    {
        var i = Array.IndexOf(SegmentIds, segmentId);
        return i < 0 ? segmentId : Names[i];
    }
}

/// <summary>What a retrain did, returned once the model is published and customers are reassigned.</summary>
[GenerateSerializer, Immutable, Alias("engine.RetrainOutcome")]
public sealed record RetrainOutcome(
    [property: Id(0)] ModelSnapshot Model,
    [property: Id(1)] double Seconds,
    [property: Id(2)] long Reassigned,
    [property: Id(3)] KCandidate[] Candidates);
