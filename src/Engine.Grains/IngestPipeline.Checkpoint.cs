using Microsoft.Extensions.Logging;

namespace Engine.Grains;

// The work that holds the pipeline's turn between batches: the shard checkpoint that bounds recovery, and the inactivity sweep.
public sealed partial class IngestPipeline
{
    /// <summary>Persists every shard with the log position it reflects, so recovery starts after it.</summary>
    public async Task CheckpointAsync(CancellationToken ct = default)
    {
        await _turn.WaitAsync(ct);
        try
        {
            // With no publish in flight every failed one has queued its customers and the applied position is settled,
            // so the checkpoint cannot pass rows that are not in the shards.
            await _published;
            await CatchUpLaggingAsync();
            await CheckpointCoreAsync();
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>
    /// Runs the inactivity sweep up to the engine clock if a sweep interval has passed. Wall-clock mode calls this on a
    /// timer; in event-time mode every batch does, before its events apply, so silence is dated before what breaks it.
    /// </summary>
    public async Task SweepAsync(CancellationToken ct = default)
    {
        await _turn.WaitAsync(ct);
        try
        {
            await SweepIfDueAsync(clock.Now);
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>
    /// Event time, while no batch is on its way: sweeps up to the time every batch is applied through
    /// (<see cref="EngineClock.AppliedNow"/>), however recently the last sweep ran. A batch's sweep leaves some customers
    /// to the next sweep (those a model's rollout holds, and those beyond its rounds), and after an import no batch comes
    /// to take them: without this their moves by silence would wait for their next event, and a lookup (dated by the
    /// clock) would already show the RFM segment their history has not recorded. When nothing was left, nothing is due
    /// at that time and each shard only looks at its queue; during a rollout each settle looks at the rows it holds
    /// again. Customers that failed a batch catch up first, and no settle runs while a dead silo's batches wait for
    /// replay or a stopping one's for its apply loop: their events may be earlier than the time swept to. Does not move
    /// the interval's mark: a batch sweeps as it would have.
    /// </summary>
    public async Task SettleAsync(CancellationToken ct = default)
    {
        await _turn.WaitAsync(ct);
        try
        {
            if (!clock.IsEventTime || replica.Current is null || BatchesInFlight() || _queue.Reader.Count > 0
                || await PeersMayHaveUnappliedAsync(ct))
            {
                return;
            }
            await _published;
            await CatchUpLaggingAsync();
            await SweepShardsAsync(clock.AppliedNow);
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>
    /// Sweeps in the apply loop (event time). A sweep that failed for some customers (the shards look at them again a
    /// sweep interval later) is not the batch's failure: its events must still apply, or one customer whose sweep keeps
    /// failing would fail every batch.
    /// </summary>
    private async Task TrySweepAsync(DateTime now)
    {
        try
        {
            await SweepIfDueAsync(now);
        }
        catch (Exception ex)
        {
            LogSweepFailed(logger, ex, now);
        }
    }

    private async Task SweepIfDueAsync(DateTime now)
    {
        if (replica.Current is null || now - _lastSweep < options.Value.SweepInterval)
        {
            return;
        }
        _lastSweep = now;
        // Earlier batches' transitions go first, so a customer's transitions stay in order in the log, and the shards
        // sweep over their rows.
        await _published;
        await SweepShardsAsync(now);
    }

    private async Task SweepShardsAsync(DateTime now)
    {
        var moved = (await router.AskAllAsync(s => s.SweepAsync(now))).Sum();
        if (moved > 0)
        {
            LogSwept(logger, moved, now);
        }
    }

    private async Task CheckpointCoreAsync()
    {
        using var span = EngineTracing.Source.StartActivity("engine.checkpoint");
        // How far this silo's own appends are applied: the whole log when none is in flight (the head is read first, so
        // an append that starts after the check lands above it). A lagging customer holds it where it was.
        // Only the position: the full head reads the whole log for its watermark, which grows with the log (deploy/bench/HISTORY.md, "Behind the code").
        var head = await log.GetHeadSeqAsync();
        TakePublishFailures();
        if (_lagging.Count == 0)
        {
            _ownApplied = Volatile.Read(ref _unapplied) == 0 ? Math.Max(head, _lastApplied) : Volatile.Read(ref _lastApplied);
            await meta.SetMetaAsync(_appliedKey, _ownApplied);
        }
        // Everything at or below every silo's applied position is in the shards now, so recovery may start after it.
        var applied = await meta.ListMetaAsync(AppliedPrefix);
        var position = applied.Count == 0 ? _ownApplied : Math.Min(applied.Values.Min(), _ownApplied);
        await router.TellAllAsync(s => s.CheckpointAsync(position));
        EngineMetrics.CheckpointLag.Set(Math.Max(0, head - position));
        if (position != _lastCheckpoint)
        {
            await meta.SetMetaAsync(CheckpointKey, position);
            _lastCheckpoint = position;
        }
    }

    /// <summary>Called last on a graceful stop: everything of this silo's is applied and checkpointed, so it drops out.</summary>
    private async Task LeaveAsync()
    {
        await meta.DeleteMetaAsync(AppliedAtKey);
        await meta.DeleteMetaAsync(_appliedKey);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Inactivity sweep at {Now:O} moved {Moved} customers")]
    private static partial void LogSwept(ILogger logger, int moved, DateTime now);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The inactivity sweep up to {Now:O} failed for some customers; they are looked at again a sweep interval later")]
    private static partial void LogSweepFailed(ILogger logger, Exception ex, DateTime now);
}
