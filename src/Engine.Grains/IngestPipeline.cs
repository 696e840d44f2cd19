using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Engine.Abstractions;
using Engine.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>
/// The batch is durable, but some customers could not apply it yet (typically their silo just died). They catch up
/// from the log at the next batch or checkpoint tick; a client that retries gets its events back as duplicates.
/// </summary>
public sealed class EventsNotAppliedException(int customers)
    : Exception($"the events are durable, but {customers} customers could not apply them yet; they catch up from the log shortly, and a retry reports them as duplicates");

/// <summary>What one ingest request got: new events, duplicates and the highest log position written.</summary>
public readonly record struct IngestOutcome(int Accepted, int Duplicates, long LastSequence);

/// <summary>
/// The silo's single ingest path. Requests queue here; one loop commits them to the ingest log in group commits (one
/// transaction per batch of up to <see cref="MaxBatchEvents"/> events), applies each customer's events with one grain
/// call, publishes transitions and shard rows, and only then acknowledges. Batches are applied strictly in log
/// order, which is what lets a customer skip anything at or below its last applied position. Other silos' appends
/// interleave with this silo's; <see cref="LogCoverage"/> says what each delivery must carry so a customer never
/// skips one of theirs.
/// Also owns crash recovery (at start, and for a dead peer's batches) and the shard checkpoint that bounds it. Each
/// silo records how far it has applied its own appends (<c>applied:&lt;silo&gt;</c>); the cluster's checkpoint
/// position is the least of them, so a crash anywhere replays from before anything not yet applied.
/// </summary>
public sealed partial class IngestPipeline(
    IEventLog log,
    CustomerGrains customers,
    OutcomePublisher publisher,
    ShardRouter router,
    ModelReplica replica,
    EngineClock clock,
    ILocalSiloDetails silo,
    IClusterMembershipService membership,
    ClusterLeader leader,
    IOptions<EngineOptions> options,
    ILogger<IngestPipeline> logger) : BackgroundService
{
    /// <summary>The meta key prefix under which every silo records how far it has applied its own appends.</summary>
    public const string AppliedPrefix = "applied:";

    public const int MaxBatchEvents = 10_000;
    private const string CheckpointKey = "checkpoint_seq";
    private const int ApplyAttempts = 3;
    private const int RecoveryChunk = 512;

    private sealed record Work(IReadOnlyList<PendingEvent> Events, TaskCompletionSource<IngestOutcome> Done);

    private readonly Channel<Work> _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(1024) { SingleReader = true });
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<string> _lagging = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _publishFailures = new();
    private Task _published = Task.CompletedTask;
    private readonly LogCoverage _coverage = new(options.Value.CoverageWindow);
    private readonly string _appliedKey = AppliedPrefix + silo.SiloAddress.ToParsableString();
    private long _lastApplied;
    private int _committing;
    private int _unapplied;
    private long _lastCheckpoint = -1;
    private long _ownApplied;
    private DateTime _lastBatchAsOf = DateTime.MinValue;
    private DateTime _lastSweep = DateTime.MinValue;

    /// <summary>Completes once crash recovery is done and ingest is open.</summary>
    public Task Ready => _ready.Task;

    /// <summary>Queues events for the next group commit; completes when they are durable and applied.</summary>
    public async Task<IngestOutcome> SubmitAsync(IReadOnlyList<PendingEvent> events, CancellationToken ct) =>
        await await EnqueueAsync(events, ct);

    /// <summary>
    /// Queues events for the next group commit and returns once they are queued (so callers that enqueue one after
    /// another keep their order in the log), with the task that completes when they are durable and applied.
    /// </summary>
    public async Task<Task<IngestOutcome>> EnqueueAsync(IReadOnlyList<PendingEvent> events, CancellationToken ct)
    {
        if (events.Count == 0)
        {
            return Task.FromResult<IngestOutcome>(default);
        }
        var work = new Work(events, new TaskCompletionSource<IngestOutcome>(TaskCreationOptions.RunContinuationsAsynchronously));
        await _queue.Writer.WriteAsync(work, ct);
        // Once queued the batch will be committed whatever the caller does, so the wait for it is not cancellable.
        return work.Done.Task;
    }

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
        var moved = await router.AskAllAsync(s => s.SweepAsync(now));
        if (moved.Sum() > 0)
        {
            LogSwept(logger, moved.Sum(), now);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // Drain: accept nothing new, let the loop commit and apply what is queued, then checkpoint.
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        try
        {
            await RecoverAsync(stoppingToken);
            _ready.TrySetResult();
        }
        catch (Exception ex)
        {
            LogRecoveryFailed(logger, ex);
            _ready.TrySetException(ex);
            throw;
        }

        // Three stages: while batch i is applied, batch i + 1 is committed and batch i - 1 published. Batches are
        // applied, published and acknowledged strictly in commit order.
        var committed = Channel.CreateBounded<Committed>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
        var applying = Task.Run(() => ApplyLoopAsync(committed.Reader), CancellationToken.None);
        var batch = new List<Work>();
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            // Counted from before the requests leave the queue until the batch is handed on (or failed), so the apply
            // loop never sees a batch in the making as nothing queued.
            Interlocked.Increment(ref _committing);
            batch = [];
            var count = 0;
            while (count < MaxBatchEvents && _queue.Reader.TryRead(out var work))
            {
                batch.Add(work);
                count += work.Events.Count;
            }
            try
            {
                await committed.Writer.WriteAsync(await CommitAsync(batch));
            }
            catch (Exception ex)
            {
                Fail(batch, ex);
            }
            finally
            {
                Interlocked.Decrement(ref _committing);
            }
        }
        committed.Writer.Complete();
        await applying;
        try
        {
            await CheckpointAsync(CancellationToken.None);
            // With customers still lagging the key stays: once this silo is dead, the leader replays for it.
            await _turn.WaitAsync(CancellationToken.None);
            try
            {
                if (_lagging.Count == 0)
                {
                    await LeaveAsync();
                }
            }
            finally
            {
                _turn.Release();
            }
        }
        catch (Exception ex)
        {
            // Stopping anyway: the next start replays from the last checkpoint that did succeed.
            LogFinalCheckpointFailed(logger, ex);
        }
    }

    /// <summary>A committed batch on its way to being applied.</summary>
    private sealed record Committed(List<Work> Batch, long[] Seqs, DateTime AsOf, DateTime SweepTo, Dictionary<string, List<LoggedEvent>> PerCustomer,
        long CompleteAfter, long MaxSeq, long Started, int Events, Exception? AppendFailure = null);

    private async Task<Committed> CommitAsync(List<Work> batch)
    {
        var started = Stopwatch.GetTimestamp();
        var events = batch.Count == 1 ? batch[0].Events : batch.SelectMany(w => w.Events).ToArray();
        var earliest = DateTime.MaxValue;
        foreach (var e in events)
        {
            clock.Observe(e.OccurredAt);
            earliest = e.OccurredAt < earliest ? e.OccurredAt : earliest;
        }
        // Each batch gets its own as_of (a tick later than the last if the clock has not moved): replays group by it.
        var asOf = clock.Now;
        if (asOf <= _lastBatchAsOf)
        {
            asOf = _lastBatchAsOf.AddTicks(1);
        }
        _lastBatchAsOf = asOf;
        // The model these events will be assigned under, logged with them so a replay uses it too (see CustomerGrain).
        var modelVersion = replica.Current?.Version ?? 0;
        Interlocked.Increment(ref _unapplied);
        AppendResult appended;
        try
        {
            appended = await log.AppendAsync(events, asOf, modelVersion);
        }
        catch (Exception ex)
        {
            // The commit may have happened with only its answer lost: the client gets the error and a retry would find
            // the events as duplicates, so their customers must read them from the log. The apply loop marks them lagging,
            // which also holds the checkpoint until they have.
            var unsure = new Dictionary<string, List<LoggedEvent>>(StringComparer.Ordinal);
            foreach (var e in events)
            {
                unsure.TryAdd(e.CustomerId, []);
            }
            return new Committed(batch, [], asOf, asOf, unsure, 0, 0, started, events.Count, ex);
        }
        var seqs = appended.Seqs;
        asOf = appended.AsOf;
        _lastBatchAsOf = asOf;

        // Sized up front, and one event per customer by default: a batch spreads over about as many customers as it
        // has events, and growing the map and lists was a tenth of the server's allocations at full ingest.
        var perCustomer = new Dictionary<string, List<LoggedEvent>>(seqs.Length, StringComparer.Ordinal);
        var maxSeq = 0L;
        for (var i = 0; i < seqs.Length; i++)
        {
            if (seqs[i] == 0)
            {
                continue;
            }
            var e = events[i];
            if (!perCustomer.TryGetValue(e.CustomerId, out var list))
            {
                perCustomer[e.CustomerId] = list = new List<LoggedEvent>(1);
            }
            list.Add(new LoggedEvent(seqs[i], e.EventId, e.CustomerId, e.Kind, e.OccurredAt, e.Amount, e.Category, asOf, modelVersion));
            maxSeq = Math.Max(maxSeq, seqs[i]);
        }
        var (completeAfter, readBack) = _coverage.Appended(appended.Before, maxSeq, Stopwatch.GetTimestamp());
        if (readBack && perCustomer.Count > 0 && !await TryReadBackAsync(perCustomer, completeAfter, appended.Before))
        {
            // Promise only this batch: a customer that may have missed another silo's events reads its own tail.
            completeAfter = appended.Before;
        }
        // A batch can span days of event time (an import's requests are thousands of events): the sweep before it goes
        // only to its earliest event, so a customer's purchase inside it is applied before silence is judged past it.
        var sweepTo = earliest < asOf ? earliest : asOf;
        return new Committed(batch, seqs, asOf, sweepTo, perCustomer, completeAfter, maxSeq, started, events.Count);
    }

    /// <summary>Puts the customers' events in (after, through] (other silos' appends among them) in front of this batch's.</summary>
    private async Task<bool> TryReadBackAsync(Dictionary<string, List<LoggedEvent>> perCustomer, long after, long through)
    {
        try
        {
            var earlier = await log.ReadCustomersAsync(perCustomer.Keys, after, through);
            foreach (var group in earlier.GroupBy(e => e.CustomerId, StringComparer.Ordinal))
            {
                perCustomer[group.Key].InsertRange(0, group);
            }
            EngineMetrics.ReadBackEvents.Inc(earlier.Length);
            return true;
        }
        catch (Exception ex)
        {
            // The batch is committed; it must go on to be applied, so this is not the batch's failure.
            LogReadBackFailed(logger, ex);
            return false;
        }
    }

    private async Task ApplyLoopAsync(ChannelReader<Committed> committed)
    {
        await foreach (var c in committed.ReadAllAsync())
        {
            await _turn.WaitAsync(CancellationToken.None);
            var handedOff = false;
            try
            {
                if (c.AppendFailure is { } failure)
                {
                    _lagging.UnionWith(c.PerCustomer.Keys);
                    Fail(c.Batch, failure);
                    continue;
                }
                // In event-time mode silence is swept up to this batch's earliest event before its events apply.
                if (clock.IsEventTime)
                {
                    await TrySweepAsync(c.SweepTo);
                }
                var (results, incomplete) = await ApplyAsync(c.PerCustomer, c.CompleteAfter, c.MaxSeq);
                clock.Applied(c.AsOf);
                // Publishing (transition log, shard rows) overlaps the next batch's grain calls; batches publish and
                // are acknowledged in order.
                _published = PublishThenAcknowledgeAsync(c, results, incomplete, _published);
                handedOff = true;
                // At the end of a stream (nothing queued behind this batch) silence is judged up to this batch's time
                // now, not when the next event comes, which after an import may be never.
                if (clock.IsEventTime && committed.Count == 0 && _queue.Reader.Count == 0 && Volatile.Read(ref _committing) == 0)
                {
                    await TrySweepAsync(c.AsOf);
                }
            }
            catch (Exception ex)
            {
                // Whatever failed, these customers may not have the batch: they catch up from the log, and the
                // checkpoint holds until they have.
                foreach (var id in c.PerCustomer.Keys)
                {
                    _lagging.Add(id);
                }
                Fail(c.Batch, ex);
            }
            finally
            {
                if (!handedOff)
                {
                    Interlocked.Decrement(ref _unapplied);
                }
                _turn.Release();
            }
        }
        await _published;
    }

    /// <summary>
    /// Publishes a batch's outcomes after the previous batch's, then acknowledges it (or fails it: the events are durable,
    /// but some customers must catch up). Runs outside the pipeline's turn, so it reports failed customers through
    /// <see cref="_publishFailures"/>; never throws. Whatever takes the turn to checkpoint, sweep or replay awaits it
    /// first.
    /// </summary>
    private async Task PublishThenAcknowledgeAsync(Committed c, List<ApplyResult> results, int incomplete, Task previous)
    {
        try
        {
            await previous;
            var lagging = 0;
            var published = await TryPublishAsync(results, id =>
            {
                _publishFailures.Enqueue(id);
                lagging++;
            });
            if (published && incomplete == 0)
            {
                if (c.MaxSeq > 0)
                {
                    Volatile.Write(ref _lastApplied, c.MaxSeq);
                }
                Acknowledge(c);
            }
            else
            {
                Fail(c.Batch, new EventsNotAppliedException(incomplete + lagging));
            }
        }
        catch (Exception ex)
        {
            // Not expected (publishing reports its own failures), but a fault here must neither leave the batch
            // unanswered nor stop every later batch, which awaits this one.
            foreach (var r in results)
            {
                if (r.Row is { } row)
                {
                    _publishFailures.Enqueue(row.CustomerId);
                }
            }
            Fail(c.Batch, ex);
        }
        finally
        {
            Interlocked.Decrement(ref _unapplied);
        }
    }

    /// <summary>Moves customers whose outcomes failed to publish into the lagging set (under the turn).</summary>
    private void TakePublishFailures()
    {
        while (_publishFailures.TryDequeue(out var id))
        {
            _lagging.Add(id);
        }
    }

    private static void Acknowledge(Committed c)
    {
        var offset = 0;
        foreach (var work in c.Batch)
        {
            var accepted = 0;
            var last = 0L;
            for (var i = 0; i < work.Events.Count; i++)
            {
                var seq = c.Seqs[offset + i];
                if (seq > 0)
                {
                    accepted++;
                    last = Math.Max(last, seq);
                }
            }
            offset += work.Events.Count;
            EngineMetrics.EventsAccepted.Inc(accepted);
            EngineMetrics.EventsDuplicate.Inc(work.Events.Count - accepted);
            work.Done.TrySetResult(new IngestOutcome(accepted, work.Events.Count - accepted, last));
        }
        EngineMetrics.BatchEvents.Observe(c.Events);
        EngineMetrics.BatchSeconds.Observe(Stopwatch.GetElapsedTime(c.Started).TotalSeconds);
    }

    private void Fail(List<Work> batch, Exception ex)
    {
        LogBatchFailed(logger, ex, batch.Sum(w => w.Events.Count));
        foreach (var work in batch)
        {
            work.Done.TrySetException(ex);
        }
    }

    /// <summary>
    /// One call per customer, all in parallel; a failed customer is retried by catching up from the log. Returns the
    /// outcomes to publish and how many of the batch's own customers failed for good (those lagging from earlier batches
    /// are called again, but do not count).
    /// </summary>
    private async Task<(List<ApplyResult> Results, int Incomplete)> ApplyAsync(Dictionary<string, List<LoggedEvent>> perCustomer, long completeAfter, long through)
    {
        // Customers that failed before catch up from the log (a delivery would skip what they missed). Only the batch's
        // own customers decide its answer (see below), so those that join the calls without being in it are noted.
        TakePublishFailures();
        HashSet<string>? notInBatch = null;
        foreach (var id in _lagging)
        {
            if (!perCustomer.ContainsKey(id))
            {
                (notInBatch ??= new HashSet<string>(StringComparer.Ordinal)).Add(id);
            }
            perCustomer[id] = [];
        }
        var ids = perCustomer.Keys.ToArray();
        // Every call is sent before the first is awaited. Awaited as they are, without a Task each (a Task per call
        // and its wrapper were about 5% of the server's allocations at full ingest).
        var calls = new ValueTask<ApplyResult>[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            var events = perCustomer[ids[i]];
            calls[i] = events.Count == 0
                ? new ValueTask<ApplyResult>(customers.RecoverAsync(ids[i]))
                : customers.Get(ids[i]).ApplyAsync(new Delivery(events.ToArray(), completeAfter, through));
        }

        var results = new List<ApplyResult>(ids.Length);
        var failed = new List<string>();
        for (var i = 0; i < ids.Length; i++)
        {
            try
            {
                results.Add(await calls[i]);
                _lagging.Remove(ids[i]);
            }
            catch
            {
                // Retried below by catching up from the log, which logs the failure if it persists.
                failed.Add(ids[i]);
            }
        }
        // Retried all at once: one at a time, a few stuck customers would hold every batch behind them (the turn is held).
        var retried = await Task.WhenAll(failed.Select(RetryAsync));
        var incomplete = 0;
        for (var i = 0; i < failed.Count; i++)
        {
            if (retried[i] is { } recovered)
            {
                results.Add(recovered);
                _lagging.Remove(failed[i]);
            }
            else
            {
                _lagging.Add(failed[i]);
                // Only this batch's own customers decide its answer: a customer still lagging from an earlier batch (a
                // checkpoint it cannot read, say) must not fail every batch after it.
                incomplete += notInBatch?.Contains(failed[i]) == true ? 0 : 1;
            }
        }
        return (results, incomplete);
    }

    /// <summary>
    /// Publishes outcomes; when that fails (a shard's silo just died), the customers count as lagging (passed to
    /// <paramref name="lagging"/>), so their rows are published again and the checkpoint does not pass them meanwhile.
    /// </summary>
    private async Task<bool> TryPublishAsync(List<ApplyResult> results, Action<string> lagging)
    {
        try
        {
            await publisher.PublishAsync(results);
            return true;
        }
        catch (Exception ex)
        {
            LogPublishFailed(logger, ex, results.Count);
            foreach (var r in results)
            {
                if (r.Row is { } row)
                {
                    lagging(row.CustomerId);
                }
            }
            return false;
        }
    }

    /// <summary>Customers that failed to apply catch up between batches too, so an idle silo does not leave them behind.</summary>
    private async Task CatchUpLaggingAsync()
    {
        TakePublishFailures();
        var results = new List<ApplyResult>();
        foreach (var id in _lagging.ToArray())
        {
            try
            {
                results.Add(await customers.RecoverAsync(id));
                _lagging.Remove(id);
            }
            catch (Exception ex)
            {
                LogApplyRetry(logger, ex, id, 0);
            }
        }
        await TryPublishAsync(results, id => _lagging.Add(id));
    }

    private async Task<ApplyResult?> RetryAsync(string customerId)
    {
        for (var attempt = 1; attempt <= ApplyAttempts; attempt++)
        {
            try
            {
                return await customers.RecoverAsync(customerId);
            }
            catch (Exception ex)
            {
                LogApplyRetry(logger, ex, customerId, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(50 * attempt));
            }
        }
        return null;
    }

    private async Task RecoverAsync(CancellationToken ct)
    {
        await replica.RefreshAsync();
        var from = await log.GetMetaAsync(CheckpointKey, ct);
        var head = await log.GetHeadAsync(ct);
        if (head.MaxOccurredAt is { } watermark)
        {
            clock.Observe(watermark);
        }
        _lastBatchAsOf = head.MaxAsOf ?? DateTime.MinValue;
        // Registered before ingest opens, so the cluster's checkpoint never passes an append of this silo it has not applied.
        _ownApplied = head.MaxSeq;
        await log.SetMetaAsync(_appliedKey, _ownApplied, ct);
        // Dead peers are listed before the replay: one that dies during it is left for the leader.
        var dead = await DeadPeersAsync(ct);
        var replayed = await ReplayAsync(from, ct);
        _lastApplied = head.MaxSeq;
        _coverage.Start(head.MaxSeq);
        _lastCheckpoint = from;
        // This replay also covers whatever earlier incarnations or dead peers left unapplied.
        await ForgetAsync(dead, ct);
        if (replayed > 0)
        {
            await CheckpointCoreAsync();
        }
        LogRecovered(logger, replayed, from, head.MaxSeq);
    }

    /// <summary>
    /// Brings every customer with events after <paramref name="from"/> up to date from the log and republishes its row.
    /// One customer's failure is that customer's: it is logged, counted and left lagging (caught up between batches,
    /// and holding the checkpoint meanwhile), and the replay goes on; so is a chunk whose publish fails. An event a
    /// customer cannot apply never gets here: the customer quarantines it (see CustomerGrain).
    /// </summary>
    private async Task<int> ReplayAsync(long from, CancellationToken ct)
    {
        var touched = await log.CustomersAfterAsync(from, ct);
        foreach (var chunk in touched.Chunk(RecoveryChunk))
        {
            var results = await Task.WhenAll(chunk.Select(TryRecoverAsync));
            for (var i = 0; i < chunk.Length; i++)
            {
                if (results[i] is null)
                {
                    _lagging.Add(chunk[i]);
                }
            }
            await TryPublishAsync(results.OfType<ApplyResult>().ToList(), id => _lagging.Add(id));
        }
        return touched.Length;

        async Task<ApplyResult?> TryRecoverAsync(string customerId)
        {
            try
            {
                return await customers.RecoverAsync(customerId);
            }
            catch (Exception ex)
            {
                LogRecoverCustomerFailed(logger, ex, customerId);
                EngineMetrics.CustomerFailures.WithLabels("recovery").Inc();
                return null;
            }
        }
    }

    /// <summary>
    /// Replays what dead silos may have committed but not applied: their customers whose grains live on could otherwise
    /// miss those events until their next one, and their shards lost rows since the last checkpoint. One silo (the
    /// <see cref="ClusterLeader"/>) does it; the replay is idempotent, so a repeat after a crash half way costs only time.
    /// </summary>
    public async Task RecoverDeadPeersAsync(CancellationToken ct = default)
    {
        if (!leader.IsThisSilo)
        {
            return;
        }
        var dead = await DeadPeersAsync(ct);
        if (dead.Count == 0)
        {
            return;
        }
        await _turn.WaitAsync(ct);
        try
        {
            await _published;
            var started = Stopwatch.GetTimestamp();
            var from = await log.GetMetaAsync(CheckpointKey, ct);
            var replayed = await ReplayAsync(from, ct);
            await ForgetAsync(dead, ct);
            EngineMetrics.PeerRecoveries.Inc(dead.Count);
            LogPeersRecovered(logger, string.Join(", ", dead), replayed, from, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>Applied-position keys of silos that are dead, or were replaced by a newer incarnation on the same endpoint.</summary>
    private async Task<List<string>> DeadPeersAsync(CancellationToken ct)
    {
        var snapshot = membership.CurrentSnapshot;
        var keys = await log.ListMetaAsync(AppliedPrefix, ct);
        return keys.Keys.Where(key => key != _appliedKey && IsDead(SiloAddress.FromParsableString(key[AppliedPrefix.Length..]))).ToList();

        bool IsDead(SiloAddress peer) =>
            snapshot.GetSiloStatus(peer) == SiloStatus.Dead
            || snapshot.Members.Values.Any(m => m.SiloAddress.Endpoint.Equals(peer.Endpoint) && m.SiloAddress.Generation > peer.Generation);
    }

    private async Task ForgetAsync(List<string> keys, CancellationToken ct)
    {
        foreach (var key in keys)
        {
            await log.DeleteMetaAsync(key, ct);
        }
    }

    private async Task CheckpointCoreAsync()
    {
        // How far this silo's own appends are applied: the whole log when none is in flight (the head is read first, so
        // an append that starts after the check lands above it). A lagging customer holds it where it was.
        // Only the position: the full head reads the whole log for its watermark, which took 355 ms at 1.1M events.
        var head = await log.GetHeadSeqAsync();
        TakePublishFailures();
        if (_lagging.Count == 0)
        {
            _ownApplied = Volatile.Read(ref _unapplied) == 0 ? Math.Max(head, _lastApplied) : Volatile.Read(ref _lastApplied);
            await log.SetMetaAsync(_appliedKey, _ownApplied);
        }
        // Everything at or below every silo's applied position is in the shards now, so recovery may start after it.
        var applied = await log.ListMetaAsync(AppliedPrefix);
        var position = applied.Count == 0 ? _ownApplied : Math.Min(applied.Values.Min(), _ownApplied);
        await router.TellAllAsync(s => s.CheckpointAsync(position));
        if (position != _lastCheckpoint)
        {
            await log.SetMetaAsync(CheckpointKey, position);
            _lastCheckpoint = position;
        }
    }

    /// <summary>Called last on a graceful stop: everything of this silo's is applied and checkpointed, so it drops out.</summary>
    private Task LeaveAsync() => log.DeleteMetaAsync(_appliedKey);

    [LoggerMessage(Level = LogLevel.Information, Message = "Recovery replayed {Customers} customers with events after log position {From} (head {Head})")]
    private static partial void LogRecovered(ILogger logger, int customers, long from, long head);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dead silos {Peers}: replayed {Customers} customers with events after log position {From} in {Seconds:F2} s")]
    private static partial void LogPeersRecovered(ILogger logger, string peers, int customers, long from, double seconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Inactivity sweep at {Now:O} moved {Moved} customers")]
    private static partial void LogSwept(ILogger logger, int moved, DateTime now);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The inactivity sweep up to {Now:O} failed for some customers; they are looked at again a sweep interval later")]
    private static partial void LogSweepFailed(ILogger logger, Exception ex, DateTime now);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The checkpoint at stop failed; the next start replays more of the log")]
    private static partial void LogFinalCheckpointFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Recovery failed; ingest stays closed")]
    private static partial void LogRecoveryFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Ingest batch of {Events} events failed")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int events);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Publishing {Customers} customers' outcomes failed; they are published again from the log")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception, int customers);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading other silos' events for a batch failed; its customers read their own tails")]
    private static partial void LogReadBackFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Recovery of customer {CustomerId} failed; it catches up from the log later, and the recovery goes on")]
    private static partial void LogRecoverCustomerFailed(ILogger logger, Exception exception, string customerId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Customer {CustomerId} failed to apply its events (attempt {Attempt})")]
    private static partial void LogApplyRetry(ILogger logger, Exception exception, string customerId, int attempt);
}
