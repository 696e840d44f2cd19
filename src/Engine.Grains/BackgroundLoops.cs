using Engine.Abstractions;
using Engine.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>
/// A silo-local loop that starts once ingest is open (crash recovery done) and then ticks every <see cref="Interval"/>.
/// A failed tick is logged and the next one tries again; the loop itself never dies of it.
/// </summary>
public abstract partial class PeriodicService(IngestPipeline pipeline, ILogger logger) : BackgroundService
{
    protected IngestPipeline Pipeline => pipeline;

    protected abstract TimeSpan Interval { get; }

    protected virtual bool Enabled => true;

    protected abstract Task TickAsync(CancellationToken ct);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            return;
        }
        await pipeline.Ready.WaitAsync(stoppingToken);
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await TickAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // Includes OperationCanceledException from Orleans (a message that expired in an overloaded silo):
                // only the host stopping ends the loop, or the host would stop over one slow tick.
                LogTickFailed(logger, ex, GetType().Name);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Service} failed; the next tick retries")]
    private static partial void LogTickFailed(ILogger logger, Exception exception, string service);
}

/// <summary>
/// Every <see cref="EngineOptions.CheckpointInterval"/>: replays what dead silos left unapplied (on the leader), then
/// checkpoints the shards, bounding crash recovery.
/// </summary>
public sealed class CheckpointScheduler(IngestPipeline pipeline, IOptions<IngestOptions> options, ILogger<CheckpointScheduler> logger)
    : PeriodicService(pipeline, logger)
{
    protected override TimeSpan Interval => options.Value.CheckpointInterval;

    protected override async Task TickAsync(CancellationToken ct)
    {
        await Pipeline.RecoverDeadPeersAsync(ct);
        await Pipeline.CheckpointAsync(ct);
    }
}

/// <summary>
/// Trains the first model once <see cref="EngineOptions.AutoTrainMinCustomers"/> customers exist, and keeps the
/// silo's model replica current (a model published by another silo arrives within one poll).
/// </summary>
public sealed partial class ModelWatcher(
    IngestPipeline pipeline, IGrainFactory grains, ShardRouter router, ModelReplica replica,
    IOptions<ModelOptions> options, ILogger<ModelWatcher> logger) : PeriodicService(pipeline, logger)
{
    protected override TimeSpan Interval => TimeSpan.FromSeconds(2);

    protected override async Task TickAsync(CancellationToken ct)
    {
        await replica.RefreshAsync();
        if (replica.Current is not null)
        {
            return;
        }
        var sizes = await router.AskAllAsync(s => s.GetSizeAsync());
        var customers = sizes.Sum();
        if (customers < options.Value.AutoTrainMinCustomers)
        {
            return;
        }
        LogTraining(logger, customers);
        var outcome = await grains.GetGrain<ISegmentCoordinatorGrain>(0).RetrainAsync(options.Value.DefaultK, "first");
        replica.Offer(outcome.Model);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Customers} customers: training the first model")]
    private static partial void LogTraining(ILogger logger, int customers);
}

/// <summary>
/// Measures drift every <see cref="EngineOptions.DriftCheckInterval"/> and retrains (reason "drift") when any PSI
/// passes <see cref="EngineOptions.DriftPsiThreshold"/>. On the <see cref="ClusterLeader"/> the check's report is also
/// what the drift and segment-size metrics show (one silo exports them, so a sum over the cluster is right).
/// </summary>
public sealed class DriftWatcher(
    IngestPipeline pipeline, IGrainFactory grains, ModelReplica replica, ClusterLeader leader, IOptions<ModelOptions> options, ILogger<DriftWatcher> logger)
    : PeriodicService(pipeline, logger)
{
    private readonly PopulationGauges _gauges = new();

    protected override TimeSpan Interval => options.Value.DriftCheckInterval;

    protected override async Task TickAsync(CancellationToken ct)
    {
        var coordinator = grains.GetGrain<ISegmentCoordinatorGrain>(0);
        if (!leader.IsThisSilo)
        {
            _gauges.Clear();
        }
        else
        {
            // The same report the retrain decision below reads; asked for once when nothing drifted, as before.
            var report = await coordinator.GetDriftAsync();
            _gauges.Show(report, report is null ? null : await replica.GetAsync(report.ModelVersion));
            if (report is not { Drifted: true })
            {
                return;
            }
        }
        if (await coordinator.RetrainIfDriftedAsync() is { } outcome)
        {
            replica.Offer(outcome.Model);
        }
    }
}

/// <summary>
/// Wall-clock mode: runs the inactivity sweep every <see cref="EngineOptions.SweepInterval"/>. Event-time mode, where
/// the ingest pipeline sweeps as the watermark moves: every <see cref="SettleInterval"/> of the wall clock, finishes
/// what the batches' sweeps left while no batch comes (<see cref="IngestPipeline.SettleAsync"/>).
/// </summary>
public sealed class InactivitySweeper(IngestPipeline pipeline, EngineClock clock, IOptions<IngestOptions> options, ILogger<InactivitySweeper> logger)
    : PeriodicService(pipeline, logger)
{
    /// <summary>How soon after an import its last moves by silence are made: a few seconds, as a lookup after it would wait.</summary>
    public static readonly TimeSpan SettleInterval = TimeSpan.FromSeconds(5);

    protected override TimeSpan Interval => clock.IsEventTime ? SettleInterval : options.Value.SweepInterval;

    protected override Task TickAsync(CancellationToken ct) => clock.IsEventTime ? Pipeline.SettleAsync(ct) : Pipeline.SweepAsync(ct);
}

/// <summary>
/// Event-time mode in a cluster: each silo's watermark moves with the events it ingests, so silos share theirs through
/// the log's meta table every second. A silo that ingests nothing still dates lookups by the cluster's event time, and
/// each dates a retrain's moves no later than every silo has applied (<see cref="IngestPipeline.ShareAppliedTimeAsync"/>).
/// </summary>
public sealed class WatermarkSync(IngestPipeline pipeline, IMetaStore log, EngineClock clock, ILogger<WatermarkSync> logger)
    : PeriodicService(pipeline, logger)
{
    private const string Key = "watermark";

    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    protected override bool Enabled => clock.IsEventTime;

    protected override async Task TickAsync(CancellationToken ct)
    {
        var shared = await log.GetMetaAsync(Key, ct);
        var local = clock.Now.Ticks;
        if (local > shared)
        {
            // Two silos may race here; the loser's lower value is corrected on the next tick, and clocks never go back.
            await log.SetMetaAsync(Key, local, ct);
        }
        else if (shared > local)
        {
            clock.Observe(new DateTime(shared, DateTimeKind.Utc));
        }
        await Pipeline.ShareAppliedTimeAsync(ct);
    }
}
