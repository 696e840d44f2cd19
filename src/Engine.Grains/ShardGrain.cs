using System.Diagnostics;
using Engine.Abstractions;
using Engine.Core;
using Engine.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>
/// Holds the feature matrix of its slice of customers. Retraining runs here: the coordinator sends centroids, the
/// shard returns O(k·d) partial sums; no customer grain is called per iteration. CPU-heavy loops run on the thread
/// pool, off the grain's turn. In partial files by role, one per role interface: this one (the rows, activation and
/// checkpoint), Training, Rollout and Sweep.
/// </summary>
public sealed partial class ShardGrain(
    [PersistentState("shard", StorageNames.Engine)] IPersistentState<ShardState> state,
    IIngestLog log,
    TransitionLogWriter writes,
    ShardRouter router,
    CustomerGrains customerGrains,
    ModelReplica models,
    EngineClock clock,
    IOptions<IngestOptions> options,
    IOptions<ModelOptions> modelOptions,
    ILogger<ShardGrain> logger) : Grain, IShardGrain, IShardTrainingLoader
{
    private ShardMatrix _rows = new();
    private float[] _train = [];
    private int _trainRows;
    private int _trainD = ShardMatrix.D;
    private bool _dirty;
    private InactivitySchedule? _schedule;
    private long _scheduledVersion = -1;
    // Set while a repair after a crash is unfinished: the log position it started from, and who is left to ask.
    private long? _repairFrom;
    private Queue<string>? _repairQueue;
    private int _repairTotal;
    private IGrainTimer? _afterActivation;
    // Customers whose rows arrived unassigned while a model exists, and the timer that asks them (AssignFirstSegmentsAsync).
    private HashSet<string>? _firstAssignments;
    private IGrainTimer? _assignFirst;
    // The model under which the unassigned rows were last handed to AssignFirstSegments (LookForUnassignedRows).
    private long _unassignedLookedUnder;
    // The customers a model rollout has yet to reach (named by GetCandidatesAsync), which the sweep leaves to it; see
    // RolloutTracker for the rules. Rows taken from anyone are what the rollout's settle step reads beside it.
    private readonly RolloutTracker _rollout = new();
    private long _rowsTaken;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Rows is { } bytes)
        {
            using var reader = new BinaryReader(new MemoryStream(bytes));
            _rows = ShardMatrix.ReadFrom(reader);
            // The matrix is the truth now; keeping the serialized copy would double the shard's memory.
            state.State.Rows = null;
        }
        _schedule = null;
        if (state.State.Open)
        {
            // The previous holder died: rows it took after its checkpoint are gone. Any silo's checkpoint may already
            // have moved past them (it cannot know this shard lost them), so the shard asks their customers itself.
            // That can take long, so it runs after activation, a chunk per timer turn, with calls served in between;
            // until it is done the checkpoint keeps this position, so a repair cut short starts again from it.
            _repairFrom = state.State.LogPosition;
        }
        else
        {
            state.State.Open = true;
            await CheckpointAsync(state.State.LogPosition, force: true);
        }
        _afterActivation = this.RegisterGrainTimer(CatchUpAfterActivationAsync,
            new GrainTimerCreationOptions { DueTime = TimeSpan.Zero, Period = TimeSpan.FromMilliseconds(10) });
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // A clean close is what tells the next activation that nothing was lost; an unfinished repair is not one.
        state.State.Open = _repairFrom is not null;
        await CheckpointAsync(state.State.LogPosition, force: true);
    }

    /// <summary>
    /// One turn of the work an activation leaves for later: after a crash, asking the customers with events after the
    /// checkpoint for their rows, a chunk a turn; then assigning rows the checkpoint caught unassigned (customers with
    /// no event since are not replayed, so they are asked; they answer with the segment they already have).
    /// </summary>
    private async Task CatchUpAfterActivationAsync(CancellationToken ct)
    {
        try
        {
            if (_repairFrom is { } from)
            {
                if (_repairQueue is null)
                {
                    var shard = (int)this.GetPrimaryKeyLong();
                    _repairQueue = new Queue<string>((await log.CustomersAfterAsync(from, ct)).Where(id => router.ShardOf(id) == shard));
                    _repairTotal = _repairQueue.Count;
                }
                if (_repairQueue.Count > 0)
                {
                    var chunk = _repairQueue.Take(CustomerRounds.Parallelism).ToList();
                    await AskAsync(chunk, g => g.RecoverAsync(), resend: false);
                    for (var i = 0; i < chunk.Count; i++)
                    {
                        _repairQueue.Dequeue();
                    }
                    return;
                }
                LogRepaired(logger, (int)this.GetPrimaryKeyLong(), _repairTotal, from);
                (_repairFrom, _repairQueue) = (null, null);
            }
            // This silo may not hold the model yet (it has just joined): the coordinator is asked rather than the rows
            // left unassigned until their customers' next events.
            if (models.Current is null)
            {
                await models.RefreshAsync();
            }
            if (models.Current is { } model)
            {
                _unassignedLookedUnder = model.Version;
                AssignFirstSegments(UnassignedRows());
            }
            _afterActivation?.Dispose();
            _afterActivation = null;
        }
        catch (Exception ex)
        {
            // Tried again a second later (not every 10 ms while, say, the database is down); the checkpoint position
            // holds meanwhile.
            LogCatchUpRetry(logger, ex, (int)this.GetPrimaryKeyLong());
            _afterActivation?.Change(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        }
    }

    public Task UpsertAsync(ShardRow[] rows)
    {
        var schedule = CurrentSchedule();
        List<string>? unassigned = null;
        foreach (var row in rows)
        {
            if (_rows.SegmentAt(Take(row, schedule)) == ModelSnapshot.Unassigned)
            {
                (unassigned ??= []).Add(row.CustomerId);
            }
        }
        _dirty |= rows.Length > 0;
        _rowsTaken += rows.Length;
        // A customer that applied events while a model was being published can arrive after this shard's sweep
        // still unassigned; it gets its first segment here rather than at its next event.
        if (unassigned is not null && models.Current is not null)
        {
            AssignFirstSegments(unassigned);
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Queues customers whose rows are unassigned while a model exists, to be asked in a turn of this shard's own, not
    /// inside the caller's call: the ingest path's publish never waits on the shard calling customers back.
    /// </summary>
    private void AssignFirstSegments(IEnumerable<string> customers)
    {
        (_firstAssignments ??= new HashSet<string>(StringComparer.Ordinal)).UnionWith(customers);
        if (_firstAssignments.Count > 0)
        {
            _assignFirst ??= this.RegisterGrainTimer(AssignFirstSegmentsAsync,
                new GrainTimerCreationOptions { DueTime = TimeSpan.Zero, Period = TimeSpan.FromSeconds(1) });
        }
    }

    /// <summary>
    /// Asks the queued customers (<see cref="AssignFirstSegments"/>) to assign themselves under the current model. On a
    /// failure the set is kept and asked again a second later: the rows are stored, and one customer that cannot answer
    /// must not fail anyone's publish.
    /// </summary>
    private async Task AssignFirstSegmentsAsync(CancellationToken ct)
    {
        var pending = _firstAssignments;
        if (pending is not null && models.Current is { } model)
        {
            var customers = pending.ToList();
            try
            {
                await ReassignAsync(customers, model.Version);
            }
            catch (Exception ex)
            {
                LogFirstAssignmentFailed(logger, ex, (int)this.GetPrimaryKeyLong(), customers.Count);
                return;
            }
            pending.ExceptWith(customers);
            if (pending.Count > 0)
            {
                return;
            }
        }
        _firstAssignments = null;
        _assignFirst?.Dispose();
        _assignFirst = null;
    }

    public Task<SegmentCounts> GetCountsAsync() =>
        Task.FromResult(new SegmentCounts(new Dictionary<string, long>(_rows.Counts)));

    public Task<int> GetSizeAsync() => Task.FromResult(_rows.Count);

    public Task<string[]> GetMembersAsync(string segmentId) =>
        Task.FromResult(Enumerable.Range(0, _rows.Count).Where(i => _rows.SegmentAt(i) == segmentId).Select(_rows.IdAt).ToArray());

    public async Task<Dictionary<string, SegmentProfile>> GetProfilesAsync()
    {
        var (rows, asOf, fit) = (_rows, clock.Now, models.Current?.Clv);
        return await Task.Run(() =>
        {
            var sums = new Dictionary<string, (long Count, double[] Sums, double PAlive, double Clv)>(StringComparer.Ordinal);
            ForEachAged(rows, asOf, (i, raw) =>
            {
                var segment = rows.SegmentAt(i);
                if (!sums.TryGetValue(segment, out var entry))
                {
                    entry = (0, new double[raw.Length], 0, 0);
                }
                for (var j = 0; j < raw.Length; j++)
                {
                    entry.Sums[j] = Finite.Clamp(entry.Sums[j] + Finite.Clamp(raw[j]));
                }
                var value = ValueAt(rows, i, fit, asOf);
                sums[segment] = (entry.Count + 1, entry.Sums, entry.PAlive + (value?.PAlive ?? 0), Finite.Clamp(entry.Clv + (value?.Clv ?? 0)));
            });
            return sums.ToDictionary(kv => kv.Key, kv => new SegmentProfile(kv.Value.Count, kv.Value.Sums, kv.Value.PAlive, kv.Value.Clv));
        });
    }

    public async Task<DriftCounts> GetDriftCountsAsync(ModelSnapshot model)
    {
        var (rows, asOf) = (_rows, clock.Now);
        var edges = model.Baseline?.Edges ?? [];
        return await Task.Run(() =>
        {
            var features = edges.Select(e => new long[e.Length + 1]).ToArray();
            var segments = new long[model.K];
            ForEachAged(rows, asOf, (i, raw) =>
            {
                var x = ModelMath.Scale(model, raw);
                for (var j = 0; j < features.Length; j++)
                {
                    features[j][Psi.BinOf(edges[j], x[j])]++;
                }
                var segment = Array.IndexOf(model.SegmentIds, rows.SegmentAt(i));
                if (segment >= 0)
                {
                    segments[segment]++;
                }
            });
            return new DriftCounts(features, segments);
        });
    }

    public async Task<long[]> CompareModelsAsync(ModelSnapshot a, ModelSnapshot b)
    {
        var (rows, asOf) = (_rows, clock.Now);
        return await Task.Run(() =>
        {
            var counts = new long[a.K * b.K];
            ForEachAged(rows, asOf, (_, raw) =>
            {
                if (Finite.All(raw))
                {
                    counts[ModelMath.Nearest(a, raw).Index * b.K + ModelMath.Nearest(b, raw).Index]++;
                }
            });
            return counts;
        });
    }

    /// <summary>Calls <paramref name="visit"/> with every row's raw features brought forward to <paramref name="asOf"/>.</summary>
    /// <summary>Row i's customer value at <paramref name="asOf"/> under <paramref name="fit"/>; null without a fit or a purchase.</summary>
    private CustomerValue? ValueAt(ShardMatrix rows, int i, ClvFit? fit, DateTime asOf) =>
        fit is not null && rows.PurchaseHistoryAt(i) is { } history ? CustomerValue.Of(fit, history, asOf, modelOptions.Value.ClvHorizon) : null;

    private static void ForEachAged(ShardMatrix rows, DateTime asOf, Action<int, double[]> visit)
    {
        var aged = new float[ShardMatrix.D];
        var raw = new double[ShardMatrix.D];
        for (var i = 0; i < rows.Count; i++)
        {
            rows.RawAt(i).CopyTo(aged);
            ModelMath.Age(aged, rows.AsOfAt(i), asOf);
            for (var j = 0; j < raw.Length; j++)
            {
                raw[j] = aged[j];
            }
            visit(i, raw);
        }
    }

    /// <summary>Asks customers to reassign under a model version (the customer decides with its exact features).</summary>
    private Task<long> ReassignAsync(List<string> customers, long modelVersion) =>
        AskAsync(customers, g => g.ReassignAsync(modelVersion), resend: true);

    /// <summary>
    /// Asks customers in parallel chunks, logs their transitions and takes their rows; returns the transitions. With
    /// <paramref name="resend"/>, a customer whose call failed is asked for its recovery (<see cref="CustomerRounds.AskRoundAsync"/>).
    /// </summary>
    private async Task<long> AskAsync(List<string> customers, Func<ICustomerGrain, Task<ApplyResult>> ask, bool resend)
    {
        var moved = await CustomerRounds.AskAsync(customers, id => ask(customerGrains.Get(id)),
            resend ? customerGrains.RecoverAsync : null, writes, Take);
        _dirty |= customers.Count > 0;
        return moved;
    }

    private Task Take(ShardRow[] rows)
    {
        var schedule = CurrentSchedule();
        foreach (var row in rows)
        {
            Take(row, schedule);
        }
        return Task.CompletedTask;
    }

    /// <summary>Stores a row (one older than the stored one is dropped) and schedules what is stored; returns its index.</summary>
    private int Take(ShardRow row, InactivitySchedule? schedule)
    {
        var i = _rows.UpsertAndIndex(row);
        // One customer's row must not fail the shard's whole upsert (every customer of the batch, and a recovery,
        // would fail with it). The row is stored; its next row schedules it again.
        if (schedule is not null && !schedule.TrySchedule(i, models.Current!, _rows.AsOfAt(i), out var error))
        {
            LogScheduleFailed(logger, error, (int)this.GetPrimaryKeyLong(), row.CustomerId);
            EngineMetrics.CustomerFailures.WithLabels("schedule").Inc();
        }
        // A row under an older model (an ingest batch stamped before the model was published) does not count, and a
        // customer the rollout did not name is then asked at its end. (Rows of no model are the unassigned rows'
        // business, see AssignFirstSegmentsAsync.)
        _rollout.RowTaken(row.CustomerId, row.ModelVersion);
        return i;
    }

    public Task CheckpointAsync(long logPosition)
    {
        LookForUnassignedRows();
        return CheckpointAsync(logPosition, force: false);
    }

    /// <summary>
    /// Once per model and activation, after the model's rollout here is over (ended, or stalled with its caller gone),
    /// hands rows still unassigned under it to <see cref="AssignFirstSegments"/>. The rollout can be cut short (a round
    /// whose calls failed, a coordinator whose silo stopped), and after an import in event time no event comes to
    /// assign them; an activation asks them itself. Not before the rollout has named its candidates here: asking
    /// everyone beside it would double a first model's rollout. Called by the periodic checkpoint; the matrix keeps the
    /// count, so a shard without unassigned rows pays one lookup.
    /// </summary>
    private void LookForUnassignedRows()
    {
        if (models.Current is not { } model || model.Version == _unassignedLookedUnder || _afterActivation is not null
            || _rollout.Version < model.Version || _rollout.RollingOut(Stopwatch.GetTimestamp()))
        {
            return;
        }
        _unassignedLookedUnder = model.Version;
        if (_rows.Counts.GetValueOrDefault(ModelSnapshot.Unassigned) > 0)
        {
            AssignFirstSegments(UnassignedRows());
        }
    }

    private IEnumerable<string> UnassignedRows() =>
        Enumerable.Range(0, _rows.Count).Where(i => _rows.SegmentAt(i) == ModelSnapshot.Unassigned).Select(_rows.IdAt).ToList();

    public async Task<bool> RemoveAsync(string customerId)
    {
        var removed = _rows.Remove(customerId);
        _firstAssignments?.Remove(customerId);
        _repairQueue = _repairQueue is null ? null : new Queue<string>(_repairQueue.Where(id => id != customerId));
        // Row indices moved: the inactivity schedule is rebuilt at the next sweep.
        (_schedule, _scheduledVersion) = (null, -1);
        // The checkpoint keeps its log position; what it must lose is the row, now, not at the next ingest checkpoint.
        await CheckpointAsync(-1, force: true);
        return removed;
    }

    private async Task CheckpointAsync(long logPosition, bool force)
    {
        // A negative position keeps the recorded one (a checkpoint not driven by the ingest log), and so does an
        // unfinished repair: its rows are not all back yet.
        logPosition = logPosition < 0 || _repairFrom is not null ? state.State.LogPosition : logPosition;
        if (!force && !_dirty && logPosition == state.State.LogPosition && state.RecordExists)
        {
            return;
        }
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer))
        {
            _rows.WriteTo(writer);
        }
        state.State.Rows = buffer.ToArray();
        state.State.LogPosition = logPosition;
        try
        {
            await state.WriteStateAsync();
        }
        finally
        {
            state.State.Rows = null;
        }
        _dirty = false;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: giving {Count} customers their first segment failed for some; trying again in a second")]
    private static partial void LogFirstAssignmentFailed(ILogger logger, Exception ex, int shard, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard} was not closed cleanly: asked {Customers} customers with events after log position {After} for their rows")]
    private static partial void LogRepaired(ILogger logger, int shard, int customers, long after);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shard {Shard}: scheduling customer {CustomerId}'s row failed; the row is kept, and its next row schedules it again")]
    private static partial void LogScheduleFailed(ILogger logger, Exception exception, int shard, string customerId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: work after activation failed; trying again")]
    private static partial void LogCatchUpRetry(ILogger logger, Exception exception, int shard);
}
