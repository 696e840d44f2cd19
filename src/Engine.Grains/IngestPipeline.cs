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
public readonly record struct IngestOutcome(int Accepted, int Duplicates, long LastLogPosition);

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
/// One object with one turn, in partial files by role: this one (queue, the stages' loop, stop), Commit, Apply,
/// Recovery and Checkpoint (checkpoint and sweep).
/// </summary>
public sealed partial class IngestPipeline(
    IIngestLog log,
    IMetaStore meta,
    CustomerGrains customers,
    OutcomePublisher publisher,
    ShardRouter router,
    ModelReplica replica,
    EngineClock clock,
    ILocalSiloDetails silo,
    IClusterMembershipService membership,
    ClusterLeader leader,
    IOptions<IngestOptions> options,
    ILogger<IngestPipeline> logger) : BackgroundService
{
    /// <summary>The meta key prefix under which every silo records how far it has applied its own appends.</summary>
    public const string AppliedPrefix = "applied:";

    public const int MaxBatchEvents = 10_000;
    /// <summary>The meta key of the cluster's checkpoint position: crash recovery replays the log after it.</summary>
    public const string CheckpointKey = "checkpoint_seq";
    private const int ApplyAttempts = 3;
    private const int RecoveryChunk = 512;

    /// <summary>Queued events, and the trace of the request that sent them (default when tracing is off).</summary>
    private sealed record Work(IReadOnlyList<PendingEvent> Events, TaskCompletionSource<IngestOutcome> Done, ActivityContext Trace);

    private readonly Channel<Work> _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(1024) { SingleReader = true });
    private readonly IngestAdmission _admission = new(options.Value.MaxEventsInFlight);
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
        if (!await _admission.TryEnterAsync(events.Count, options.Value.IngestAdmissionWait, ct))
        {
            EngineMetrics.IngestRefused.Inc();
            throw new IngestOverloadedException(options.Value.IngestAdmissionWait, _admission.InFlight);
        }
        var work = new Work(events, new TaskCompletionSource<IngestOutcome>(TaskCreationOptions.RunContinuationsAsynchronously),
            Activity.Current?.Context ?? default);
        try
        {
            await _queue.Writer.WriteAsync(work, ct);
        }
        catch
        {
            _admission.Exit(events.Count);
            throw;
        }
        // The room is given back where the request is answered (acknowledged or failed), in the apply stage.
        // Once queued the batch will be committed whatever the caller does, so the wait for it is not cancellable.
        return work.Done.Task;
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "The checkpoint at stop failed; the next start replays more of the log")]
    private static partial void LogFinalCheckpointFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Recovery failed; ingest stays closed")]
    private static partial void LogRecoveryFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Ingest batch of {Events} events failed")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int events);
}
