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
/// pool, off the grain's turn.
/// </summary>
public sealed partial class ShardGrain(
    [PersistentState("shard", StorageNames.Engine)] IPersistentState<ShardState> state,
    IEventLog log,
    TransitionLogWriter writes,
    ShardRouter router,
    CustomerGrains customerGrains,
    ModelReplica models,
    EngineClock clock,
    IOptions<EngineOptions> options,
    ILogger<ShardGrain> logger) : Grain, IShardGrain
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
            if (models.Current is { } model)
            {
                var unassigned = Enumerable.Range(0, _rows.Count).Where(i => _rows.SegmentAt(i) == ModelSnapshot.Unassigned).Select(_rows.IdAt).ToList();
                await ReassignAsync(unassigned, model.Version);
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

    public async Task UpsertAsync(ShardRow[] rows)
    {
        List<string>? unassigned = null;
        var schedule = CurrentSchedule();
        foreach (var row in rows)
        {
            var i = Take(row, schedule);
            if (_rows.SegmentAt(i) == ModelSnapshot.Unassigned)
            {
                (unassigned ??= []).Add(row.CustomerId);
            }
        }
        _dirty |= rows.Length > 0;
        _rowsTaken += rows.Length;
        // A customer that applied events while a model was being published can arrive after this shard's sweep
        // still unassigned; it gets its first segment here rather than at its next event.
        if (unassigned is not null && models.Current is { } model)
        {
            try
            {
                await ReassignAsync(unassigned, model.Version);
            }
            catch (Exception ex)
            {
                // The rows are stored; failing the caller's publish would only send them again, and fail again for as long
                // as one of these customers cannot answer. The after-activation work assigns unassigned rows: it tries
                // again a second later (unless it is still running, which it does at its end anyway).
                LogFirstAssignmentFailed(logger, ex, (int)this.GetPrimaryKeyLong(), unassigned.Count);
                _afterActivation ??= this.RegisterGrainTimer(CatchUpAfterActivationAsync,
                    new GrainTimerCreationOptions { DueTime = TimeSpan.FromSeconds(1), Period = TimeSpan.FromSeconds(1) });
            }
        }
    }

    public Task<SegmentCounts> GetCountsAsync() =>
        Task.FromResult(new SegmentCounts(new Dictionary<string, long>(_rows.Counts)));

    public Task<int> GetSizeAsync() => Task.FromResult(_rows.Count);

    public async Task<Dictionary<string, SegmentProfile>> GetProfilesAsync()
    {
        var (rows, asOf) = (_rows, clock.Now);
        return await Task.Run(() =>
        {
            var sums = new Dictionary<string, (long Count, double[] Sums)>(StringComparer.Ordinal);
            ForEachAged(rows, asOf, (i, raw) =>
            {
                var segment = rows.SegmentAt(i);
                if (!sums.TryGetValue(segment, out var entry))
                {
                    entry = (0, new double[raw.Length]);
                }
                for (var j = 0; j < raw.Length; j++)
                {
                    entry.Sums[j] = Finite.Clamp(entry.Sums[j] + Finite.Clamp(raw[j]));
                }
                sums[segment] = (entry.Count + 1, entry.Sums);
            });
            return sums.ToDictionary(kv => kv.Key, kv => new SegmentProfile(kv.Value.Count, kv.Value.Sums));
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

    public async Task<long[][]> GetTrainingHistogramAsync(double[][] edges)
    {
        var (train, n, d) = (_train, _trainRows, _trainD);
        return await Task.Run(() =>
        {
            var counts = edges.Select(e => new long[e.Length + 1]).ToArray();
            for (var i = 0; i < n; i++)
            {
                for (var j = 0; j < Math.Min(d, edges.Length); j++)
                {
                    counts[j][Psi.BinOf(edges[j], train[i * d + j])]++;
                }
            }
            return counts;
        });
    }

    /// <summary>Calls <paramref name="visit"/> with every row's raw features brought forward to <paramref name="asOf"/>.</summary>
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

    public async Task<Moments> GetTrainingMomentsAsync()
    {
        var (train, n, d) = (_train, _trainRows, _trainD);
        return await Task.Run(() =>
        {
            var sum = new double[d];
            var sumSq = new double[d];
            for (var i = 0; i < n * d; i++)
            {
                double v = train[i];
                sum[i % d] += v;
                sumSq[i % d] += v * v;
            }
            return new Moments(n, sum, sumSq);
        });
    }

    public async Task<Moments> PrepareAsync(DateTime asOf)
    {
        var rows = _rows;
        var (train, moments) = await Task.Run(() =>
        {
            var d = ShardMatrix.D;
            var m = new float[rows.Count * d];
            var sum = new double[d];
            var sumSq = new double[d];
            var (kept, excluded) = (0, 0);
            ForEachAged(rows, asOf, (i, raw) =>
            {
                // A row that is not finite (a checkpoint written before the features were kept finite) cannot be
                // placed: it is left out and reported, never allowed to fail the retrain.
                if (!Finite.All(raw))
                {
                    excluded++;
                    return;
                }
                var x = m.AsSpan(kept++ * d, d);
                FeatureTransform.Forward(raw, x);
                for (var j = 0; j < d; j++)
                {
                    sum[j] += x[j];
                    sumSq[j] += (double)x[j] * x[j];
                }
            });
            if (excluded > 0)
            {
                Array.Resize(ref m, kept * d);
            }
            return (m, new Moments(kept, sum, sumSq, excluded));
        });
        if (moments.Excluded > 0)
        {
            EngineMetrics.TrainingRowsExcluded.Inc(moments.Excluded);
            LogRowsExcluded(logger, (int)this.GetPrimaryKeyLong(), moments.Excluded);
        }
        SetTraining(train, ShardMatrix.D);
        return moments;
    }

    public async Task ScaleAsync(double[] mean, double[] std)
    {
        var (train, length) = (_train, _trainRows * _trainD);
        await Task.Run(() => new Scaler(mean, std).Transform(train.AsSpan(0, length)));
    }

    public Task<float[]> SampleAsync(int max, int seed)
    {
        var (train, n, d) = (_train, _trainRows, _trainD);
        if (n <= max)
        {
            return Task.FromResult(train[..(n * d)]);
        }
        // Uniform sample without replacement (Floyd's algorithm: O(max), no O(n) index array).
        var rng = new Random(seed);
        var chosen = new HashSet<int>();
        for (var j = n - max; j < n; j++)
        {
            var t = rng.Next(0, j + 1);
            chosen.Add(chosen.Contains(t) ? j : t);
        }
        var sample = new float[max * d];
        var i = 0;
        foreach (var row in chosen.Order())
        {
            train.AsSpan(row * d, d).CopyTo(sample.AsSpan(i++ * d, d));
        }
        return Task.FromResult(sample);
    }

    public async Task<LabelledSample> SampleByClusterAsync(float[] centroids, int k, int perCluster, int seed)
    {
        var (train, n, d) = (_train, _trainRows, _trainD);
        return await Task.Run(() =>
        {
            // Reservoir per cluster: small clusters keep all their rows, large ones a uniform share.
            var assignments = new int[n];
            KMeansMath.AccumulateAssign(train.AsSpan(0, n * d), d, centroids, k, new double[k * d], new long[k], assignments);
            var rng = new Random(seed);
            var reservoirs = Enumerable.Range(0, k).Select(_ => new List<int>(perCluster)).ToArray();
            var seen = new int[k];
            for (var i = 0; i < n; i++)
            {
                var c = assignments[i];
                seen[c]++;
                if (reservoirs[c].Count < perCluster)
                {
                    reservoirs[c].Add(i);
                }
                else if (rng.Next(0, seen[c]) is var r && r < perCluster)
                {
                    reservoirs[c][r] = i;
                }
            }
            var picked = reservoirs.SelectMany((rows, c) => rows.Select(row => (row, c))).ToArray();
            var sample = new float[picked.Length * d];
            var labels = new int[picked.Length];
            for (var i = 0; i < picked.Length; i++)
            {
                train.AsSpan(picked[i].row * d, d).CopyTo(sample.AsSpan(i * d, d));
                labels[i] = picked[i].c;
            }
            return new LabelledSample(sample, labels);
        });
    }

    public Task LoadTrainingAsync(float[] rows, int d)
    {
        SetTraining(rows, d);
        return Task.CompletedTask;
    }

    public async Task<PartialSums> StepAsync(float[] centroids, int k)
    {
        var (train, n, d) = (_train, _trainRows, _trainD);
        return await Task.Run(() =>
        {
            var sums = new double[k * d];
            var counts = new long[k];
            var inertia = KMeansMath.AccumulateAssign(train.AsSpan(0, n * d), d, centroids, k, sums, counts, []);
            return new PartialSums(sums, counts, inertia);
        });
    }

    public Task ReleaseAsync()
    {
        SetTraining([], ShardMatrix.D);
        return Task.CompletedTask;
    }

    private void SetTraining(float[] rows, int d)
    {
        _train = rows;
        _trainD = d;
        _trainRows = rows.Length / d;
    }

    public async Task<string[]> GetCandidatesAsync(ModelSnapshot model)
    {
        // This silo may not have the model yet; rows the rollout brings are scheduled under it.
        models.Offer(model);
        var (rows, asOf) = (_rows, clock.Now);
        var candidates = await Task.Run(() =>
        {
            var list = new List<string>();
            ForEachAged(rows, asOf, (i, raw) =>
            {
                if (model.SegmentIds[ModelMath.Nearest(model, raw).Index] != rows.SegmentAt(i))
                {
                    list.Add(rows.IdAt(i));
                }
            });
            return list.ToArray();
        });
        _rollout.Start(model.Version, candidates, Stopwatch.GetTimestamp());
        return candidates;
    }

    public Task<string[]> TakeLateToRolloutAsync(long modelVersion)
    {
        _rollout.Called(modelVersion, Stopwatch.GetTimestamp());
        return Task.FromResult(_rollout.TakeLate(modelVersion));
    }

    public Task<string[]> StillToReachAsync(string[] customers, long modelVersion)
    {
        _rollout.Called(modelVersion, Stopwatch.GetTimestamp());
        // Without this rollout's set (the shard reactivated meanwhile, or the set was dropped as stalled) all of them.
        return Task.FromResult(_rollout.StillToReach(customers, modelVersion));
    }

    public Task<RolloutReach> GetRolloutReachAsync(long modelVersion)
    {
        _rollout.Called(modelVersion, Stopwatch.GetTimestamp());
        return Task.FromResult(_rollout.StillToReachCount(modelVersion) is var still and >= 0
            ? new RolloutReach(still, _rollout.Reached, _rowsTaken)
            : new RolloutReach(-1, 0, _rowsTaken));
    }

    public Task EndRolloutAsync(long modelVersion)
    {
        _rollout.End(modelVersion);
        return Task.CompletedTask;
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
        try
        {
            schedule?.Schedule(i, models.Current!, _rows.AsOfAt(i));
        }
        catch (Exception ex)
        {
            // One customer's row must not fail the shard's whole upsert (every customer of the batch, and a recovery,
            // would fail with it). The row is stored; it is scheduled again when the schedule is next rebuilt.
            LogScheduleFailed(logger, ex, (int)this.GetPrimaryKeyLong(), row.CustomerId);
            EngineMetrics.CustomerFailures.WithLabels("schedule").Inc();
        }
        // A row under an older model (an ingest batch stamped before the model was published) does not count, and a
        // customer the rollout did not name is then asked at its end. (Rows of no model are the unassigned rows'
        // business, see UpsertAsync.)
        _rollout.RowTaken(row.CustomerId, row.ModelVersion);
        return i;
    }

    public async Task<int> SweepAsync(DateTime now)
    {
        if (models.Current is not { } model || CurrentSchedule() is not { } schedule)
        {
            return 0;
        }
        var due = schedule.TakeDue(model, now);
        if (_rollout.RollingOut(Stopwatch.GetTimestamp()))
        {
            // Looked at again a sweep interval later, unless the rollout's row reschedules it first.
            var pending = due.Where(d => _rollout.Holds(_rows.IdAt(d.Row))).ToList();
            foreach (var d in pending)
            {
                schedule.Schedule(d.Row, model, d.At, looked: true);
            }
            due = due.Except(pending).ToList();
        }
        var moved = 0;
        Task? failed = null;
        foreach (var chunk in due.Chunk(CustomerRounds.Parallelism))
        {
            var (results, roundMoved, roundFailed) = await CustomerRounds.AskRoundAsync(chunk,
                d => customerGrains.Get(_rows.IdAt(d.Row)).SweepAsync(d.At), d => customerGrains.RecoverAsync(_rows.IdAt(d.Row)),
                writes);
            for (var k = 0; k < results.Length; k++)
            {
                var i = results[k]?.Row is { } row ? _rows.UpsertAndIndex(row) : chunk[k].Row;
                // Look again no sooner than one sweep interval after this look; a customer that failed is looked at again then.
                schedule.Schedule(i, model, results[k]?.Row?.AsOf > chunk[k].At ? results[k]!.Row!.AsOf : chunk[k].At, looked: true);
            }
            moved += roundMoved;
            failed ??= roundFailed;
        }
        _dirty |= due.Count > 0;
        if (failed is not null)
        {
            // Every round ran and every customer is scheduled again; the caller hears of the first failure.
            await failed;
        }
        return moved;
    }

    /// <summary>The inactivity schedule under the current model, rebuilt when the model or the rows object changed.</summary>
    private InactivitySchedule? CurrentSchedule()
    {
        if (models.Current is not { } model)
        {
            return null;
        }
        if (_schedule is null || _scheduledVersion != model.Version)
        {
            _schedule = new InactivitySchedule(_rows, options.Value.SweepInterval);
            if (_schedule.Rebuild(model) is var failed and > 0)
            {
                LogRebuildFailures(logger, (int)this.GetPrimaryKeyLong(), failed);
                EngineMetrics.CustomerFailures.WithLabels("schedule").Inc(failed);
            }
            _scheduledVersion = model.Version;
        }
        return _schedule;
    }

    public Task CheckpointAsync(long logPosition) => CheckpointAsync(logPosition, force: false);

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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: {Excluded} rows with features that are not finite were left out of training")]
    private static partial void LogRowsExcluded(ILogger logger, int shard, long excluded);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shard {Shard}: scheduling customer {CustomerId}'s row failed; the row is kept and scheduled at the next rebuild")]
    private static partial void LogScheduleFailed(ILogger logger, Exception exception, int shard, string customerId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shard {Shard}: {Failed} rows could not be scheduled under the current model; they are scheduled again by their next row")]
    private static partial void LogRebuildFailures(ILogger logger, int shard, int failed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: work after activation failed; trying again")]
    private static partial void LogCatchUpRetry(ILogger logger, Exception exception, int shard);

}
