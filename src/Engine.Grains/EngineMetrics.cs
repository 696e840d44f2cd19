using System.Collections.Concurrent;
using Engine.Abstractions;
using Prometheus;

namespace Engine.Grains;

/// <summary>Prometheus metrics, named engine_&lt;noun&gt;_&lt;unit&gt;; labels never carry a customer id.</summary>
public static partial class EngineMetrics
{
    public static readonly Counter EventsAccepted = Metrics.CreateCounter("engine_events_accepted_total", "Events written to the ingest log and applied.");
    public static readonly Counter EventsDuplicate = Metrics.CreateCounter("engine_events_duplicate_total", "Events whose (customer_id, event_id) was already in the log.");
    public static readonly Counter IngestRefused = Metrics.CreateCounter("engine_ingest_refused_total",
        "Ingest requests refused whole with RESOURCE_EXHAUSTED because the silo held Engine:MaxEventsInFlight events.");
    public static readonly Counter EventsRejected = Metrics.CreateCounter("engine_events_rejected_total",
        "Events rejected by validation, by reason (the field the rejection names); count them with Reject.", new CounterConfiguration { LabelNames = ["reason"] });
    public static readonly Histogram BatchSeconds = Metrics.CreateHistogram("engine_ingest_batch_seconds", "Time to commit and apply one ingest batch.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 14) });
    public static readonly Histogram BatchEvents = Metrics.CreateHistogram("engine_ingest_batch_events", "Events per committed ingest batch.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 4, 8) });
    private static readonly Counter TransitionsTotal = Metrics.CreateCounter("engine_transitions_total", "Segment transitions recorded.",
        new CounterConfiguration { LabelNames = ["cause", "kind"] });
    public static readonly Counter ReadBackEvents = Metrics.CreateCounter("engine_ingest_read_back_events_total",
        "Events re-read from the log to deliver with a batch because other silos appended in between.");
    public static readonly Counter PeerRecoveries = Metrics.CreateCounter("engine_peer_recoveries_total", "Dead silos whose unapplied appends this silo replayed.");
    public static readonly Counter EventsQuarantined = Metrics.CreateCounter("engine_events_quarantined_total",
        "Accepted events their customer could not apply, moved to the quarantine (AdminService lists them).");
    public static readonly Gauge QuarantinePending = Metrics.CreateGauge("engine_quarantine_pending",
        "Events in the quarantine, neither replayed nor discarded, as last read by this silo.");
    public static readonly Counter CustomerFailures = Metrics.CreateCounter("engine_customer_failures_total",
        "Customers that failed a recovery, replay or publish and were left to catch up later; the rest went on.",
        new CounterConfiguration { LabelNames = ["path"] });
    public static readonly Counter TrainingRowsExcluded = Metrics.CreateCounter("engine_training_rows_excluded_total",
        "Customers left out of a retrain because their features were not finite.");
    public static readonly Counter Retrains = Metrics.CreateCounter("engine_retrains_total", "Models published.");

    // Retention and disk (LogRetention).
    public static readonly Gauge StorageBytes = Metrics.CreateGauge("engine_storage_bytes",
        "Bytes the store takes on disk: log (Engine's logs and tables) and orleans (grain state), as last measured by this silo.",
        new GaugeConfiguration { LabelNames = ["store"] });
    public static readonly Counter LogRowsDeleted = Metrics.CreateCounter("engine_log_rows_deleted_total",
        "Log rows deleted by retention: ingest (Engine:IngestLogRetention) or transitions (Engine:TransitionLogRetention).",
        new CounterConfiguration { LabelNames = ["log"] });
    private static readonly Counter Lookups = Metrics.CreateCounter("engine_lookups_total",
        "Customer lookups by where they were answered: cache (the silo's lookup cache, no grain call) or grain.",
        new CounterConfiguration { LabelNames = ["path"] });
    public static readonly Counter.Child LookupsFromCache = Lookups.WithLabels("cache");
    public static readonly Counter.Child LookupsFromGrain = Lookups.WithLabels("grain");

    /// <summary>
    /// Creates the metrics now (the fields above are created on first use), so a scrape before the first event already
    /// lists them at zero; and keeps the per-call instruments (Orleans', ASP.NET Core's) out of /metrics.
    /// </summary>
    public static void Register()
    {
        // prometheus-net forwards every .NET meter once /metrics is first scraped, except the per-call ones (IsPerCall).
        // The others (activations, storage latency, grain counts, connections) stay: read at scrape time, or recorded once
        // per activation, write or connection.
        Metrics.ConfigureMeterAdapter(o => o.InstrumentFilterPredicate = i => !IsPerCall(i));
        System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(typeof(EngineMetrics).TypeHandle);
        RegisterOperations();
    }

    /// <summary>
    /// Instruments recorded on every grain call or every HTTP request, left out of /metrics: Orleans' request latency
    /// and directory lookups; ASP.NET Core's request duration and active requests (engine_rpc_duration_seconds counts
    /// every call), route matches, Kestrel's queued requests and the memory pool's rents: forwarding them is paid on every
    /// call (deploy/bench/HISTORY.md, "Behind the code"). Also Polly's, recorded by the resilience pipeline Orleans places
    /// every activation through: paid on every cold lookup, and about Orleans' internals rather than Engine's work.
    /// </summary>
    private static bool IsPerCall(System.Diagnostics.Metrics.Instrument i) => i.Meter.Name switch
    {
        "Microsoft.Orleans" => i.Name == "orleans-app-requests-latency" || i.Name.StartsWith("orleans-directory-lookups-", StringComparison.Ordinal),
        "Microsoft.AspNetCore.Hosting" or "Microsoft.AspNetCore.Routing" or "Microsoft.AspNetCore.MemoryPool" => true,
        "Microsoft.AspNetCore.Server.Kestrel" => i.Name == "kestrel.queued_requests",
        "Polly" => true,
        _ => false,
    };

    /// <summary>Each (cause, kind) series labelled once: every move is counted, and labelling allocates.</summary>
    private static readonly ConcurrentDictionary<(TransitionCause Cause, Engine.Core.SegmentKind Kind), Counter.Child> TransitionSeries = new();

    public static void Transitions(IEnumerable<TransitionRecord> transitions)
    {
        foreach (var t in transitions)
        {
            TransitionSeries.GetOrAdd((t.Cause, t.Kind),
                static key => TransitionsTotal.WithLabels(key.Cause.ToString().ToLowerInvariant(), key.Kind.ToString().ToLowerInvariant())).Inc();
        }
    }
}
