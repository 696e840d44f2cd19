using Engine.Abstractions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>Checkpoints the shards every <see cref="EngineOptions.CheckpointInterval"/>, bounding crash recovery.</summary>
public sealed partial class CheckpointScheduler(IngestPipeline pipeline, IOptions<EngineOptions> options, ILogger<CheckpointScheduler> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await pipeline.Ready.WaitAsync(stoppingToken);
        using var timer = new PeriodicTimer(options.Value.CheckpointInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await pipeline.CheckpointAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Periodic checkpoint failed; the next one retries")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}

/// <summary>
/// Trains the first model once <see cref="EngineOptions.AutoTrainMinCustomers"/> customers exist, and keeps the
/// silo's model replica current (a model published by another silo arrives within one poll).
/// </summary>
public sealed partial class ModelWatcher(
    IngestPipeline pipeline, IGrainFactory grains, ShardRouter router, ModelReplica replica,
    IOptions<EngineOptions> options, ILogger<ModelWatcher> logger) : BackgroundService
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await pipeline.Ready.WaitAsync(stoppingToken);
        using var timer = new PeriodicTimer(Poll);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await replica.RefreshAsync();
                if (replica.Current is null)
                {
                    await TrainFirstModelIfReadyAsync();
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex);
            }
        }
    }

    private async Task TrainFirstModelIfReadyAsync()
    {
        var sizes = await Task.WhenAll(Enumerable.Range(0, router.Shards).Select(i => grains.GetGrain<IShardGrain>(i).GetSizeAsync()));
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model watch failed; retrying")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}

/// <summary>
/// Measures drift every <see cref="EngineOptions.DriftCheckInterval"/> and retrains (reason "drift") when any PSI
/// passes <see cref="EngineOptions.DriftPsiThreshold"/>.
/// </summary>
public sealed partial class DriftWatcher(
    IngestPipeline pipeline, IGrainFactory grains, ModelReplica replica, IOptions<EngineOptions> options, ILogger<DriftWatcher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await pipeline.Ready.WaitAsync(stoppingToken);
        using var timer = new PeriodicTimer(options.Value.DriftCheckInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var coordinator = grains.GetGrain<ISegmentCoordinatorGrain>(0);
                if (await coordinator.GetDriftAsync() is { Drifted: true } report)
                {
                    LogDrift(logger, report.ModelVersion, report.Max, report.Threshold);
                    var outcome = await coordinator.RetrainAsync(replica.Current?.K ?? options.Value.DefaultK, "drift");
                    replica.Offer(outcome.Model);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Version} drifted (max PSI {Psi:F3} > {Threshold}): retraining")]
    private static partial void LogDrift(ILogger logger, long version, double psi, double threshold);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Drift check failed; retrying at the next interval")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}

/// <summary>Wall-clock mode: runs the inactivity sweep every <see cref="EngineOptions.SweepInterval"/>.</summary>
public sealed partial class InactivitySweeper(IngestPipeline pipeline, EngineClock clock, IOptions<EngineOptions> options, ILogger<InactivitySweeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (clock.IsEventTime)
        {
            return; // the ingest pipeline sweeps as the watermark moves
        }
        await pipeline.Ready.WaitAsync(stoppingToken);
        using var timer = new PeriodicTimer(options.Value.SweepInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await pipeline.SweepAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Inactivity sweep failed; the next interval retries")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
