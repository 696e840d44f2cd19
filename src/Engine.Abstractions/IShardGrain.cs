namespace Engine.Abstractions;

/// <summary>
/// A shard: holds a fixed slice of the customers (by hash of the id) as rows, for distributed k-means, segment sizes,
/// drift, rollouts and inactivity sweeps. Keyed by shard number 0..Engine:Shards−1. One grain, with a role interface
/// per concern.
/// </summary>
[Alias("engine.IShardGrain")]
public interface IShardGrain : IShardRows, IShardTraining, IShardRollout, IShardSweep;

/// <summary>The rows: every customer of the shard's slice with its features, segment and as_of, for segment sizes, profiles and drift; and the checkpoint that persists them.</summary>
[Alias("engine.IShardRows")]
public interface IShardRows : IGrainWithIntegerKey
{
    /// <summary>Inserts or replaces customers' rows.</summary>
    [Alias("Upsert")]
    Task UpsertAsync(ShardRow[] rows);

    /// <summary>Customers per segment.</summary>
    [Alias("Counts")]
    Task<SegmentCounts> GetCountsAsync();

    /// <summary>Per segment: customers and the sums of their features (original units, aged to now), for profiles.</summary>
    [Alias("Profiles")]
    Task<Dictionary<string, SegmentProfile>> GetProfilesAsync();

    /// <summary>
    /// Histogram counts of every feature (aged to now, scaled with the model) over the model's baseline bins, and
    /// customers per model segment, for drift.
    /// </summary>
    [Alias("DriftCounts")]
    Task<DriftCounts> GetDriftCountsAsync(ModelSnapshot model);

    /// <summary>
    /// Customers per (segment under <paramref name="a"/>, segment under <paramref name="b"/>), row-major a.K × b.K: each
    /// row's features (aged to now) placed at its nearest centroid under either model.
    /// </summary>
    [Alias("CompareModels")]
    Task<long[]> CompareModelsAsync(ModelSnapshot a, ModelSnapshot b);

    /// <summary>The customers whose row is in <paramref name="segmentId"/> now, in no particular order.</summary>
    [Alias("Members")]
    Task<string[]> GetMembersAsync(string segmentId);

    /// <summary>Customers per named RFM segment and their monetary sums, under <paramref name="cuts"/> at the engine clock now.</summary>
    [Alias("RfmTally")]
    Task<RfmTally> GetRfmTallyAsync(RfmCutPoints cuts);

    /// <summary>Number of customers held.</summary>
    [Alias("Size")]
    Task<int> GetSizeAsync();

    /// <summary>Persists the rows; <paramref name="logPosition"/> is the ingest-log position they reflect.</summary>
    [Alias("Checkpoint")]
    Task CheckpointAsync(long logPosition);

    /// <summary>Erasure: drops the customer's row and writes the checkpoint without it; false when the shard had none.</summary>
    [Alias("Remove")]
    Task<bool> RemoveAsync(string customerId);
}

/// <summary>A shard's part of a retrain: its training matrix, prepared from its rows, and the distributed k-means steps over it.</summary>
[Alias("engine.IShardTraining")]
public interface IShardTraining : IGrainWithIntegerKey
{
    /// <summary>Brings every row to <paramref name="asOf"/> and transforms it (log1p); returns the moments to fit the scaler.</summary>
    [Alias("Prepare"), ResponseTimeout("00:05:00")]
    Task<Moments> PrepareAsync(DateTime asOf);

    /// <summary>The RFM values at <paramref name="asOf"/> of every customer with a purchase, for the model's RFM cut points.</summary>
    [Alias("RfmColumns"), ResponseTimeout("00:05:00")]
    Task<RfmColumns> GetRfmColumnsAsync(DateTime asOf);

    /// <summary>Row count and moments of the training matrix as it is now (prepared, scaled or loaded).</summary>
    [Alias("TrainingMoments")]
    Task<Moments> GetTrainingMomentsAsync();

    /// <summary>Histogram counts of the training matrix over the given per-feature edges (the drift baseline).</summary>
    [Alias("TrainingHistogram")]
    Task<long[][]> GetTrainingHistogramAsync(double[][] edges);

    /// <summary>Standardises the prepared rows in place with a model's scaler.</summary>
    [Alias("Scale")]
    Task ScaleAsync(double[] mean, double[] std);

    /// <summary>A uniform sample of at most <paramref name="max"/> training rows (for k-means++ seeding).</summary>
    [Alias("Sample")]
    Task<float[]> SampleAsync(int max, int seed);

    /// <summary>Up to <paramref name="perCluster"/> training rows of each cluster, with their labels (for silhouette).</summary>
    [Alias("SampleByCluster")]
    Task<LabelledSample> SampleByClusterAsync(float[] centroids, int k, int perCluster, int seed);

    /// <summary>One Lloyd iteration over the scaled rows.</summary>
    [Alias("Step")]
    Task<PartialSums> StepAsync(float[] centroids, int k);

    /// <summary>The purchase histories of the shard's customers who bought, at <paramref name="asOf"/> (customer-value fit).</summary>
    [Alias("RepeatSummaries"), ResponseTimeout("00:05:00")]
    Task<RepeatSummaries> GetRepeatSummariesAsync(DateTime asOf);

    /// <summary>Drops the training matrix.</summary>
    [Alias("Release")]
    Task ReleaseAsync();
}

/// <summary>A model rollout's view of the shard: the customers the new model may move, and which of them it has yet to reach.</summary>
[Alias("engine.IShardRollout")]
public interface IShardRollout : IGrainWithIntegerKey
{
    /// <summary>
    /// The customers whose row's nearest segment under <paramref name="model"/> differs from the row's segment: the ones
    /// a new model must ask to reassign. Asking them is the caller's work, so the shard keeps taking rows meanwhile; the
    /// inactivity sweep leaves them to the caller until their rows arrive or the rollout ends (<see cref="EndRolloutAsync"/>,
    /// or 5 minutes without a call from it).
    /// </summary>
    [Alias("Candidates"), ResponseTimeout("00:05:00")]
    Task<string[]> GetCandidatesAsync(ModelSnapshot model);

    /// <summary>
    /// Those of <paramref name="customers"/> the rollout of <paramref name="modelVersion"/> has yet to reach: no row of
    /// theirs under that model has arrived since <see cref="GetCandidatesAsync"/> (ingest reaches every customer with an
    /// event under the new model). All of them if the shard no longer tracks that rollout.
    /// </summary>
    [Alias("StillToReach")]
    Task<string[]> StillToReachAsync(string[] customers, long modelVersion);

    /// <summary>
    /// How many customers the rollout of <paramref name="modelVersion"/> has yet to reach and has reached so far, and
    /// how many rows the shard has taken (any customer's, under any model). Counts as a call from the rollout.
    /// </summary>
    [Alias("RolloutReach")]
    Task<RolloutReach> GetRolloutReachAsync(long modelVersion);

    /// <summary>
    /// Customers the rollout of <paramref name="modelVersion"/> did not name whose row has since come under an older
    /// model (a batch logged just before the model was published): the rollout asks them too. Each is handed out once.
    /// </summary>
    [Alias("TakeLateToRollout")]
    Task<string[]> TakeLateToRolloutAsync(long modelVersion);

    /// <summary>
    /// The rollout of <paramref name="modelVersion"/> is over (done, or failed): the sweep looks after the customers it
    /// did not reach. Without this call, 5 minutes with no call from the rollout count as its end.
    /// </summary>
    [Alias("EndRollout")]
    Task EndRolloutAsync(long modelVersion);
}

/// <summary>The inactivity sweep over the shard's rows.</summary>
[Alias("engine.IShardSweep")]
public interface IShardSweep : IGrainWithIntegerKey
{
    /// <summary>
    /// The inactivity sweep up to <paramref name="now"/>: only rows whose segment may have flipped by then (by a bound
    /// on how fast aging moves them) or whose window features expired are evaluated, each at its own due time; the
    /// customers that may have moved decide with their exact features. Returns the transitions recorded.
    /// </summary>
    [Alias("Sweep"), ResponseTimeout("00:10:00")]
    Task<int> SweepAsync(DateTime now);
}

/// <summary>
/// The benchmark seam: loads a training matrix directly (`engine-bench kmeans`). Not part of <see cref="IShardGrain"/>:
/// the shard grain implements it beside, and the engine itself never calls it.
/// </summary>
[Alias("engine.IShardTrainingLoader")]
public interface IShardTrainingLoader : IGrainWithIntegerKey
{
    /// <summary>Replaces the training matrix with the given rows (d columns): the benchmark's way in.</summary>
    [Alias("LoadTraining")]
    Task LoadTrainingAsync(float[] rows, int d);
}
