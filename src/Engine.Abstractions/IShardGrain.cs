namespace Engine.Abstractions;

/// <summary>
/// Holds the feature matrix of a fixed slice of the customers (by hash of the id) for distributed k-means, and their
/// segments for segment sizes. Keyed by shard number 0..Engine:Shards−1.
/// </summary>
[Alias("engine.IShardGrain")]
public interface IShardGrain : IGrainWithIntegerKey
{
    /// <summary>Inserts or replaces customers' rows.</summary>
    [Alias("Upsert")]
    Task UpsertAsync(ShardRow[] rows);

    /// <summary>Customers per segment.</summary>
    [Alias("Counts")]
    Task<SegmentCounts> GetCountsAsync();

    /// <summary>Number of customers held.</summary>
    [Alias("Size")]
    Task<int> GetSizeAsync();

    /// <summary>Brings every row to <paramref name="asOf"/> and transforms it (log1p); returns the moments to fit the scaler.</summary>
    [Alias("Prepare"), ResponseTimeout("00:05:00")]
    Task<Moments> PrepareAsync(DateTime asOf);

    /// <summary>Scales the prepared rows with the model's scaler and returns a uniform sample of at most <paramref name="max"/> rows.</summary>
    [Alias("Scale")]
    Task<float[]> ScaleAndSampleAsync(double[] mean, double[] std, int max, int seed);

    /// <summary>One Lloyd iteration over the scaled rows.</summary>
    [Alias("Step")]
    Task<PartialSums> StepAsync(float[] centroids, int k);

    /// <summary>Drops the training matrix.</summary>
    [Alias("Release")]
    Task ReleaseAsync();

    /// <summary>Reassigns every customer whose nearest segment under <paramref name="model"/> differs; returns how many changed.</summary>
    [Alias("ApplyModel"), ResponseTimeout("00:30:00")]
    Task<long> ApplyModelAsync(ModelSnapshot model);

    /// <summary>Persists the rows; <paramref name="logPosition"/> is the ingest-log position they reflect.</summary>
    [Alias("Checkpoint")]
    Task CheckpointAsync(long logPosition);
}
