using Orleans.Concurrency;

namespace Engine.Abstractions;

/// <summary>
/// Runs distributed k-means over the shards and publishes versioned models. A single activation (key 0).
/// </summary>
[Alias("engine.ISegmentCoordinatorGrain")]
public interface ISegmentCoordinatorGrain : IGrainWithIntegerKey
{
    /// <summary>Trains with <paramref name="k"/> segments, publishes the model and reassigns customers.</summary>
    [Alias("Retrain"), ResponseTimeout("00:30:00")]
    Task<RetrainOutcome> RetrainAsync(int k, string reason);

    /// <summary>The current model, or null before the first. Interleaves with a running retrain.</summary>
    [Alias("GetModel"), AlwaysInterleave]
    Task<ModelSnapshot?> GetModelAsync();
}
