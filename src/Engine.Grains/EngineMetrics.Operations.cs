using System.Collections.Concurrent;
using System.Reflection;
using Prometheus;

namespace Engine.Grains;

// The operations catalog (docs/operations.md, "Metrics"): model, drift, webhooks, subscribers, recovery, RPCs, build.
// Every series is per silo, so Prometheus sums a cluster. A cluster-wide value that every silo could compute (segment
// sizes, drift) is exported by the ClusterLeader alone, so sum() and max() over the cluster are both right.
public static partial class EngineMetrics
{
    /// <summary>The reasons of <see cref="EventsRejected"/>: the field a rejection names.</summary>
    public static readonly string[] RejectionReasons = ["event_id", "customer_id", "type", "occurred_at", "amount", "category", "attributes"];

    public static readonly Gauge SegmentCustomers = Metrics.CreateGauge("engine_segment_customers",
        "Customers in each segment of the current model (exported by the cluster leader only).",
        new GaugeConfiguration { LabelNames = ["segment_id", "segment_name"] });
    public static readonly Gauge ModelVersion = Metrics.CreateGauge("engine_model_version",
        "Version of the model this silo assigns segments with (0 before the first model).");
    public static readonly Histogram RetrainSeconds = Metrics.CreateHistogram("engine_retrain_duration_seconds",
        "Time to train and roll out one model, on the silo of the coordinator.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.05, 2, 14) });
    public static readonly Histogram RetrainIterations = Metrics.CreateHistogram("engine_retrain_iterations",
        "Lloyd iterations of the k-means fit each published model came from.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 10) });
    public static readonly Gauge DriftPsi = Metrics.CreateGauge("engine_drift_psi",
        "PSI of each feature (and feature=\"segments\" for the segment shares) against the model's baseline, at the last drift check (cluster leader only).",
        new GaugeConfiguration { LabelNames = ["feature"] });
    public static readonly Gauge DriftPsiThreshold = Metrics.CreateGauge("engine_drift_psi_threshold",
        "Engine:DriftPsiThreshold: a PSI above it retrains (cluster leader only).");
    public static readonly Counter WebhookDeliveries = Metrics.CreateCounter("engine_webhook_deliveries_total",
        "POSTs to webhooks by result: delivered, later (receiver down or busy; retried), refused (4xx; retried), dead_letter (refused too often).",
        new CounterConfiguration { LabelNames = ["result"] });
    public static readonly Gauge WebhookLag = Metrics.CreateGauge("engine_webhook_lag_seconds",
        "Per webhook: how long the oldest alert read for it has waited to be delivered (0 when caught up); only on the delivering silo.",
        new GaugeConfiguration { LabelNames = ["webhook"] });
    public static readonly Gauge AlertSubscribers = Metrics.CreateGauge("engine_alert_subscribers",
        "Open SubscribeMigrations streams on this silo.");
    public static readonly Gauge TransitionsInMemory = Metrics.CreateGauge("engine_transitions_in_memory",
        "Transitions this silo holds because writing them to the transition log failed; they go out with the next write.");
    public static readonly Gauge CheckpointLag = Metrics.CreateGauge("engine_checkpoint_lag_events",
        "Ingest-log positions above the cluster's checkpoint at this silo's last checkpoint: what a crash would replay at most.");
    public static readonly Gauge RecoveryPending = Metrics.CreateGauge("engine_recovery_pending_events",
        "Log positions a running recovery replays (start-up, or a dead silo's on the leader); 0 when none runs.");
    public static readonly Histogram RecoverySeconds = Metrics.CreateHistogram("engine_recovery_seconds",
        "Time each recovery took: kind=\"startup\" (this silo's start) or kind=\"peer\" (dead silos' appends).",
        new HistogramConfiguration { LabelNames = ["kind"], Buckets = Histogram.ExponentialBuckets(0.01, 4, 10) });
    public static readonly Histogram RpcSeconds = Metrics.CreateHistogram("engine_rpc_duration_seconds",
        "Time to answer each gRPC or REST call (a stream: its lifetime), by service, method and status code.",
        new HistogramConfiguration { LabelNames = ["service", "method", "code"], Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });
    public static readonly Gauge BuildInfo = Metrics.CreateGauge("engine_build_info",
        "Always 1; the label carries the server's version.", new GaugeConfiguration { LabelNames = ["version"] });

    private static readonly ConcurrentDictionary<string, Counter.Child> Rejected = new(StringComparer.Ordinal);

    /// <summary>The server's version, from its informational version attribute.</summary>
    public static string Version { get; } =
        typeof(EngineMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>Counts a rejection under the field its reason names (<c>attributes[key]: …</c> counts as attributes).</summary>
    public static void Reject(string reason)
    {
        var colon = reason.IndexOf(':');
        var field = colon > 0 ? reason[..colon] : reason;
        var bracket = field.IndexOf('[');
        field = bracket > 0 ? field[..bracket] : field;
        Rejected.GetOrAdd(field, f => EventsRejected.WithLabels(f)).Inc();
    }

    /// <summary>Children that should be listed at zero before anything happens, and the build info.</summary>
    private static void RegisterOperations()
    {
        BuildInfo.WithLabels(Version).Set(1);
        foreach (var reason in RejectionReasons)
        {
            Rejected.GetOrAdd(reason, f => EventsRejected.WithLabels(f));
        }
        foreach (var result in new[] { "delivered", "later", "refused", "dead_letter" })
        {
            WebhookDeliveries.WithLabels(result);
        }
        RecoverySeconds.WithLabels("peer");
        foreach (var path in new[] { "ingest", "recovery", "rollout", "schedule" })
        {
            CustomerFailures.WithLabels(path);
        }
    }
}
