using Engine.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>
/// Every <see cref="IngestOptions.RetentionInterval"/>: reports the stores' sizes (every silo), and on the
/// <see cref="ClusterLeader"/> deletes log rows older than their retention that nothing still needs, a batch at a time.
/// <para>An ingest row may go when all of these hold:</para>
/// <list type="bullet">
/// <item>it was stored (its batch time, <c>as_of</c>, on the engine clock: wall time, or the watermark in event time)
/// more than <see cref="IngestOptions.IngestLogRetention"/> before the engine clock now;</item>
/// <item>it is below the cluster's checkpoint position: crash recovery replays the rows after it;</item>
/// <item>its customer's own checkpoint covers it: a customer that applied it but has not written its checkpoint since
/// (fewer than CheckpointEvery events, its silo killed before the grain deactivated) would read it again from the log
/// at its next activation. So before a batch goes, each of its customers is asked to checkpoint if it is behind;</item>
/// <item>it is not in the quarantine: an operator may still replay it.</item>
/// </list>
/// The log's newest row always stays (it is at or above the checkpoint), so positions never start over. A retried event
/// whose first copy was deleted is new again: a retention shorter than the longest time a source may resend an event
/// lets it count twice.
/// <para>A transition may go when it is dated more than <see cref="IngestOptions.TransitionLogRetention"/> before now
/// and every webhook is past it (its cursor, paused or not); a move by silence once its customer's checkpoint holds it
/// (its customer re-applies it from the log until then, so each is asked to checkpoint if it is behind). Customers keep their latest Engine:HistoryLength
/// transitions in their own state, which GetHistory answers from; the transition matrix and subscriptions that start
/// from an older cursor only see what is left.</para>
/// </summary>
public sealed partial class LogRetention(
    IngestPipeline pipeline, ClusterLeader leader, ILogRetention store, IMetaStore meta, IWebhookStore webhooks,
    IEngineDatabase database, CustomerGrains customers, EngineClock clock, IOptions<IngestOptions> options, ILogger<LogRetention> logger)
    : PeriodicService(pipeline, logger)
{
    /// <summary>Rows per delete: each is one short write transaction, so ingest appends wait at most for one.</summary>
    private const int BatchRows = 2_000;

    /// <summary>Batches per log per tick: a backlog (retention switched on over a long log) is worked off over ticks.</summary>
    private const int BatchesPerTick = 25;

    /// <summary>Customer checkpoints asked for at once.</summary>
    private const int Parallel = 64;

    protected override TimeSpan Interval => options.Value.RetentionInterval;

    /// <summary>The sizes are measured once at start too: a dashboard should not wait an interval for them.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        EngineMetrics.LogRowsDeleted.WithLabels("ingest");
        EngineMetrics.LogRowsDeleted.WithLabels("transitions");
        try
        {
            await Pipeline.Ready.WaitAsync(stoppingToken);
            await MeasureAsync(stoppingToken);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            LogMeasureFailed(logger, ex);
        }
        await base.ExecuteAsync(stoppingToken);
    }

    private async Task MeasureAsync(CancellationToken ct)
    {
        foreach (var (store, bytes) in await database.StorageBytesAsync(ct))
        {
            EngineMetrics.StorageBytes.WithLabels(store).Set(bytes);
        }
    }

    protected override async Task TickAsync(CancellationToken ct)
    {
        await MeasureAsync(ct);
        if (!leader.IsThisSilo)
        {
            return;
        }
        var o = options.Value;
        if (o.IngestLogRetention > TimeSpan.Zero)
        {
            await DeleteIngestRowsAsync(clock.Now - o.IngestLogRetention, ct);
        }
        if (o.TransitionLogRetention > TimeSpan.Zero)
        {
            await DeleteTransitionsAsync(clock.Now - o.TransitionLogRetention, ct);
        }
    }

    private async Task DeleteIngestRowsAsync(DateTime before, CancellationToken ct)
    {
        var checkpoint = await meta.GetMetaAsync(IngestPipeline.CheckpointKey, ct);
        var deleted = 0;
        for (var i = 0; i < BatchesPerTick; i++)
        {
            var batch = await store.OldIngestRowsAsync(checkpoint, before, BatchRows, ct);
            if (batch.Seqs.Length == 0)
            {
                break;
            }
            foreach (var chunk in batch.Customers.Chunk(Parallel))
            {
                await Task.WhenAll(chunk.Select(id => customers.Get(id).CheckpointIfBehindAsync()));
            }
            var n = await store.DeleteIngestRowsAsync(batch.Seqs, ct);
            EngineMetrics.LogRowsDeleted.WithLabels("ingest").Inc(n);
            deleted += n;
        }
        if (deleted > 0)
        {
            LogDeleted(logger, deleted, "ingest", before, checkpoint);
        }
    }

    private async Task DeleteTransitionsAsync(DateTime before, CancellationToken ct)
    {
        var hooks = await webhooks.ListWebhooksAsync(ct);
        var through = hooks.Length == 0 ? long.MaxValue : hooks.Min(h => h.DeliveredAfter);
        var deleted = 0;
        for (var i = 0; i < BatchesPerTick; i++)
        {
            // A customer re-applies its moves by silence from the log until its checkpoint holds them.
            foreach (var chunk in (await store.CustomersWithOldMovesAsync(through, before, BatchRows, ct)).Chunk(Parallel))
            {
                await Task.WhenAll(chunk.Select(id => customers.Get(id).CheckpointIfBehindAsync()));
            }
            var n = await store.DeleteTransitionsAsync(through, before, BatchRows, ct);
            EngineMetrics.LogRowsDeleted.WithLabels("transitions").Inc(n);
            deleted += n;
            if (n < BatchRows)
            {
                break;
            }
        }
        if (deleted > 0)
        {
            LogDeleted(logger, deleted, "transition", before, through);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention deleted {Rows} {Log} log rows dated before {Before:O}, up to the bound {Bound} (the checkpoint position, or the lowest webhook cursor)")]
    private static partial void LogDeleted(ILogger logger, int rows, string log, DateTime before, long bound);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Measuring the stores' sizes at start failed; the next retention tick measures again")]
    private static partial void LogMeasureFailed(ILogger logger, Exception exception);
}
