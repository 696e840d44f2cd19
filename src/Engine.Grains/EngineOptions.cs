namespace Engine.Grains;

/// <summary>
/// Where and how the engine runs: clock, storage, cluster and ports, and the shard count. Every options class here is
/// bound from the one "Engine" configuration section (env vars Engine__X, --Engine:X=value), so the keys do not say
/// which class holds them; each is checked at start by <see cref="EngineOptionsValidator"/>, and a value out of range
/// stops the server with one line naming the key.
/// </summary>
public sealed class EngineOptions
{
    public const string Section = "Engine";

    /// <summary>"wall" (default): now is the wall clock. "event-time": now is the latest occurred_at seen (the watermark).</summary>
    public ClockMode Clock { get; set; } = ClockMode.Wall;

    /// <summary>"sqlite" (default, embedded) or "postgres".</summary>
    public StorageKind Storage { get; set; } = StorageKind.Sqlite;

    /// <summary>Where the SQLite files live.</summary>
    public string DataDirectory { get; set; } = "./data";

    /// <summary>PostgreSQL connection string when Storage = postgres.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>PostgreSQL connections one silo may hold in all (keep silos × this under the server's max_connections).</summary>
    public int PostgresPoolSize { get; set; } = 30;

    /// <summary>Cluster name in the membership table (postgres); silos with the same one form a cluster.</summary>
    public string ClusterId { get; set; } = "engine";

    /// <summary>The address other silos reach this one on (postgres clusters).</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// Orleans' Kubernetes hosting (silo name = pod name, a silo whose pod is gone is declared dead at once). Unset:
    /// on when the server runs in a pod (KUBERNETES_SERVICE_HOST is set) on postgres; the embedded mode is one silo.
    /// </summary>
    public bool? Kubernetes { get; set; }

    /// <summary>Whether the silo uses Orleans' Kubernetes hosting: <see cref="Kubernetes"/>, or else whether it runs in a pod on postgres.</summary>
    public bool UsesKubernetesHosting(string? kubernetesServiceHost) =>
        Kubernetes ?? (Storage == StorageKind.Postgres && !string.IsNullOrEmpty(kubernetesServiceHost));

    public int GrpcPort { get; set; } = 5000;
    public int HttpPort { get; set; } = 5001;
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;

    /// <summary>Number of shard grains holding the feature matrix.</summary>
    public int Shards { get; set; } = 8;

    public bool IsEventTime => Clock == ClockMode.EventTime;

}

/// <summary>Ingest and customers: input limits, checkpoints, history length, the inactivity sweep's period.</summary>
public sealed class IngestOptions
{
    /// <summary>Transitions each customer keeps (older ones stay in the transition log).</summary>
    public int HistoryLength { get; set; } = 100;

    /// <summary>A customer writes its checkpoint after this many events since the last one (and on deactivation).</summary>
    public int CheckpointEvery { get; set; } = 64;

    /// <summary>How often shards checkpoint and the recovery start position advances.</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// In a cluster, how long a silo keeps re-reading other silos' appends for the customers in its batches. A customer
    /// with no event for longer reads its own log tail once at its next event instead.
    /// </summary>
    public TimeSpan CoverageWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How often (in engine-clock time) the inactivity sweep looks for customers whom silence moved to another segment;
    /// also the precision of an INACTIVITY transition's date. In event-time mode the sweep runs as the watermark moves.
    /// </summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The largest amount one event may carry; larger ones are rejected at the door (docs/input-limits.md).</summary>
    public double MaxAmount { get; set; } = 1e9;

    /// <summary>The earliest occurred_at accepted (never before 1970-01-01).</summary>
    public DateTime MinEventTime { get; set; } = DateTime.UnixEpoch;

    /// <summary>
    /// Event time only: how far past the current watermark an event may be dated. Real gaps in a history stay far below
    /// it; one mistyped year does not, and would otherwise age every customer by it for good (the clock only goes
    /// forward). The first events of an empty store are exempt.
    /// </summary>
    public TimeSpan MaxWatermarkJump { get; set; } = TimeSpan.FromDays(730);

    /// <summary>
    /// How long (engine clock, by the batch time a row was stored with) ingest-log rows are kept; 0 keeps them forever.
    /// Only rows recovery no longer needs go (see <see cref="LogRetention"/>); a retried event older than this is new again.
    /// </summary>
    public TimeSpan IngestLogRetention { get; set; } = TimeSpan.Zero;

    /// <summary>How long (engine clock, by the transition's date) transition-log rows are kept; 0 keeps them forever.</summary>
    public TimeSpan TransitionLogRetention { get; set; } = TimeSpan.Zero;

    /// <summary>How often the leader deletes what the retentions let go, and every silo reports its stores' sizes.</summary>
    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Events a silo holds between taking a request and acknowledging it (<see cref="IngestAdmission"/>).</summary>
    public int MaxEventsInFlight { get; set; } = 100_000;

    /// <summary>How long a request waits for room before it is refused with RESOURCE_EXHAUSTED.</summary>
    public TimeSpan IngestAdmissionWait { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Models: the first training, retrains (k, iterations, schedule, drift), rollouts and soft membership.</summary>
public sealed class ModelOptions
{
    /// <summary>The first model is trained automatically once this many customers exist.</summary>
    public int AutoTrainMinCustomers { get; set; } = 1000;

    /// <summary>
    /// A retrain's rollout first leaves the new model's candidates to ingest. It looks this often at each shard and
    /// starts asking when the shard took no rows over two looks in a row (ingest is idle), or when candidates had been
    /// reached by the last look and fewer than 1 in 50 of those left were reached since; at most 10 looks. Zero asks
    /// at once.
    /// </summary>
    public TimeSpan RolloutSettleInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>k for the automatic first model and for Retrain with k = 0.</summary>
    public int DefaultK { get; set; } = 6;

    /// <summary>Range of k tried by an automatic retrain (Retrain with k = 0); the best silhouette wins.</summary>
    public int KMin { get; set; } = 3;
    public int KMax { get; set; } = 10;

    /// <summary>
    /// An automatic retrain keeps the current model's k unless another k's mean silhouette is higher by more than this:
    /// sampled silhouettes of close ks differ by noise, and a k that follows the noise makes segments come and go.
    /// </summary>
    public double KSwitchMargin { get; set; } = 0.02;

    /// <summary>Rows per cluster in the stratified sample the silhouette is computed on (small clusters keep all theirs).</summary>
    public int SilhouettePerCluster { get; set; } = 250;

    /// <summary>Retrain on a schedule (an Orleans reminder, at least one minute); zero turns the schedule off.</summary>
    public TimeSpan RetrainInterval { get; set; } = TimeSpan.Zero;

    /// <summary>A retrain starts when any feature's or the segment sizes' Population Stability Index passes this.</summary>
    public double DriftPsiThreshold { get; set; } = 0.2;

    /// <summary>How often drift is measured against the current model's baseline.</summary>
    public TimeSpan DriftCheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Bins (quantiles of the training population) per feature for the drift baseline.</summary>
    public int DriftBins { get; set; } = 10;

    /// <summary>Temperature of the soft membership: confidence = softmax over −distance² / temperature.</summary>
    public double SoftmaxTemperature { get; set; } = 1.0;

    /// <summary>Weeks ahead that a customer's expected_purchases and clv look (BG/NBD time unit: weeks).</summary>
    public double ClvHorizon { get; set; } = 52;

    /// <summary>
    /// Maximum Lloyd iterations of a retrain, and the tolerance that ends it earlier: the summed squared centroid shift
    /// of an iteration below Tolerance × the mean feature variance (scikit-learn's criterion and default).
    /// </summary>
    public int MaxIterations { get; set; } = 300;
    public double Tolerance { get; set; } = 1e-4;

    /// <summary>
    /// A warm-started retrain that lowers inertia by less than this fraction keeps the previous centroids: a retrain
    /// without new information must not fire migrations.
    /// </summary>
    public double MinInertiaGain { get; set; } = 1e-3;
}

/// <summary>Webhook delivery.</summary>
public sealed class AlertOptions
{
    /// <summary>
    /// Attempts at an alert its receiver rejects (a 4xx other than 408 and 429) before it is dead-lettered. A receiver
    /// that is down (5xx, 408, 429, no connection, a timeout) pauses the webhook instead, for as long as it takes.
    /// </summary>
    public int WebhookMaxAttempts { get; set; } = 5;

    /// <summary>The first retry delay; it doubles with each failure in a row, up to <see cref="WebhookMaxBackoff"/>.</summary>
    public TimeSpan WebhookRetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest a paused webhook waits between two tries (a 429's Retry-After is honoured up to it).</summary>
    public TimeSpan WebhookMaxBackoff { get; set; } = TimeSpan.FromHours(1);
}
