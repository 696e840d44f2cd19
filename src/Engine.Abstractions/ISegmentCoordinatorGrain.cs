using Orleans.Concurrency;

namespace Engine.Abstractions;

/// <summary>
/// Runs distributed k-means over the shards and publishes versioned models. A single activation (key 0).
/// </summary>
[Alias("engine.ISegmentCoordinatorGrain")]
public interface ISegmentCoordinatorGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Trains with <paramref name="k"/> segments (0 = choose k by silhouette), publishes the model and reassigns
    /// customers. <paramref name="reason"/> is recorded with the model: first, manual, schedule or drift.
    /// </summary>
    [Alias("Retrain"), ResponseTimeout("00:30:00")]
    Task<RetrainOutcome> RetrainAsync(int k, string reason);

    /// <summary>Renames a segment of the current model; the name stays with the segment across retrains that match it.</summary>
    [Alias("Rename")]
    Task<ModelSnapshot> RenameSegmentAsync(string segmentId, string name);

    /// <summary>
    /// Measures drift and, if any PSI passes the threshold, retrains with the current k (reason "drift"); null when the
    /// model has not drifted. Checked inside the coordinator's turn, so a check queued behind another retrain looks again.
    /// </summary>
    [Alias("RetrainIfDrifted"), ResponseTimeout("00:30:00")]
    Task<RetrainOutcome?> RetrainIfDriftedAsync();

    /// <summary>Drift of the population against the current model's training baseline; null before the first model.</summary>
    [Alias("GetDrift"), AlwaysInterleave]
    Task<DriftReport?> GetDriftAsync();

    /// <summary>
    /// The current model, or null before the first. Interleaves with a running retrain, and never answers a model
    /// before it is stored: events are logged with the version they get.
    /// </summary>
    [Alias("GetModel"), AlwaysInterleave]
    Task<ModelSnapshot?> GetModelAsync();

    /// <summary>
    /// Model <paramref name="version"/>, current or archived (a replay assigns each logged event under the model it was
    /// logged with); null if no such model was published.
    /// </summary>
    [Alias("GetModelVersion"), AlwaysInterleave]
    Task<ModelSnapshot?> GetModelAsync(long version);

    /// <summary>
    /// Publishes archived model <paramref name="version"/> again as a new version (reason "rollback"): its centroids,
    /// scaler, segment ids and names, not re-matched, so customers whose features did not change go back to the segments
    /// they had under it; rolled out with RETRAIN transitions like a retrain.
    /// </summary>
    [Alias("Rollback"), ResponseTimeout("00:30:00")]
    Task<RetrainOutcome> RollbackAsync(long version);

    /// <summary>Customers per (segment under <paramref name="a"/>, segment under <paramref name="b"/>), row-major.</summary>
    [Alias("CompareModels"), AlwaysInterleave]
    Task<long[]> CompareModelsAsync(ModelSnapshot a, ModelSnapshot b);
}
