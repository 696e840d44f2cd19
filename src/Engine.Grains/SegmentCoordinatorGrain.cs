using System.Diagnostics;
using Engine.Abstractions;
using Engine.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>
/// Owns the model: a retrain fits the scaler from shard moments and k-means over the shards (<see cref="ShardedKMeans"/>),
/// matches the new centroids to the previous model's (<see cref="SegmentMatcher"/>) so segment ids and names survive,
/// archives and publishes the model, then rolls it out: every shard's customers reassign (cause RETRAIN). Renames,
/// drift checks and the retrain schedule are here too.
/// </summary>
public sealed partial class SegmentCoordinatorGrain(
    [PersistentState("coordinator", StorageNames.Engine)] IPersistentState<CoordinatorState> state,
    ShardRouter router,
    ModelReplica replica,
    CustomerGrains customers,
    TransitionLogWriter writes,
    EngineClock clock,
    IOptions<ModelOptions> options,
    ILogger<SegmentCoordinatorGrain> logger) : Grain, ISegmentCoordinatorGrain, IRemindable
{
    private const string ScheduleReminder = "scheduled-retrain";

    /// <summary>A warm-started fit is kept over a fresh k-means++ fit unless its inertia is more than this much higher.</summary>
    private const double WarmStartSlack = 0.01;

    /// <summary>
    /// Customers asked at once per shard in a rollout (all shards roll out together). Low on purpose: the rollout shares
    /// storage with ingest, and most of its asks write a checkpoint: more at once finishes the rollout sooner but takes
    /// ingest's throughput and doubles its acknowledgement tail (deploy/bench/HISTORY.md, "Behind the code").
    /// </summary>
    private const int RolloutParallelism = 32;

    private readonly ModelOptions _options = options.Value;

    // The model as stored: a retrain or rename sets state.State.Current before its write, and GetModelAsync interleaves
    // with it. A model handed out before it is stored could be logged with events and then lost with a failed write.
    private ModelSnapshot? _published;

    public Task<ModelSnapshot?> GetModelAsync() => Task.FromResult(_published);

    public async Task<ModelSnapshot?> GetModelAsync(long version) =>
        _published is { } current && current.Version == version
            ? current
            : await Archive(version).GetAsync();

    private IModelArchiveGrain Archive(long version) => GrainFactory.GetGrain<IModelArchiveGrain>(version);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _published = state.State.Current;
        // A model published before models were archived (an upgrade) is archived now: events are logged with its version.
        if (_published is { } current && await Archive(current.Version).GetAsync() is null)
        {
            await Archive(current.Version).KeepAsync(current);
        }
        var interval = _options.RetrainInterval;
        if (interval > TimeSpan.Zero)
        {
            await this.RegisterOrUpdateReminder(ScheduleReminder, interval, interval);
        }
        else if (await this.GetReminder(ScheduleReminder) is { } stale)
        {
            await this.UnregisterReminder(stale);
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ScheduleReminder && state.State.Current is { } current)
        {
            await RetrainAsync(current.K, "schedule");
        }
    }

    public async Task<ModelSnapshot> RenameSegmentAsync(string segmentId, string name)
    {
        var current = state.State.Current ?? throw new InvalidOperationException("segment_id: there is no model yet");
        var index = Array.IndexOf(current.SegmentIds, segmentId);
        if (index < 0)
        {
            throw new ArgumentException($"segment_id: '{segmentId}' is not a segment of model {current.Version}");
        }
        name = name.Trim();
        if (name.Length is 0 or > 64)
        {
            throw new ArgumentException("name: must be 1-64 characters");
        }
        if (current.Names.Where((n, i) => i != index).Contains(name, StringComparer.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"name: '{name}' is already used by another segment");
        }
        var names = (string[])current.Names.Clone();
        names[index] = name;
        var renamed = current with { Names = names, Revision = current.Revision + 1 };
        await PublishAsync(renamed);
        return renamed;
    }

    public async Task<RetrainOutcome?> RetrainIfDriftedAsync()
    {
        if (await GetDriftAsync() is not { Drifted: true } report || state.State.Current is not { } current)
        {
            return null;
        }
        LogDrift(logger, report.ModelVersion, report.Max, report.Threshold);
        return await RetrainAsync(current.K, "drift");
    }

    public async Task<DriftReport?> GetDriftAsync()
    {
        if (state.State.Current is not { Baseline: { } baseline } model)
        {
            return null;
        }
        var parts = await Task.WhenAll(Shards().Select(s => s.GetDriftCountsAsync(model)));
        var features = new double[baseline.Edges.Length];
        for (var j = 0; j < features.Length; j++)
        {
            var counts = new long[baseline.Edges[j].Length + 1];
            foreach (var p in parts)
            {
                for (var b = 0; b < counts.Length; b++)
                {
                    counts[b] += p.Features[j][b];
                }
            }
            features[j] = Psi.Compute(baseline.FeatureShares[j], Psi.Shares(counts));
        }
        var segments = new long[model.K];
        foreach (var p in parts)
        {
            for (var c = 0; c < model.K; c++)
            {
                segments[c] += p.Segments[c];
            }
        }
        return new DriftReport(model.Version, features, Psi.Compute(baseline.SegmentShares, Psi.Shares(segments)),
            _options.DriftPsiThreshold, segments.Sum(), segments);
    }

    public async Task<RetrainOutcome> RetrainAsync(int k, string reason)
    {
        if (reason == "first" && state.State.Current is { } existing)
        {
            return new RetrainOutcome(existing, 0, 0, []);
        }
        var watch = Stopwatch.StartNew();
        var d = FeatureNames.Count;
        var shards = Shards();
        var asOf = clock.Now;

        try
        {
            var moments = await Task.WhenAll(shards.Select(s => s.PrepareAsync(asOf)));
            var counts = moments.Select(m => m.Count).ToArray();
            var n = counts.Sum();
            var smallest = k == 0 ? _options.KMin : k;
            if (n < smallest)
            {
                throw new InvalidOperationException($"k = {smallest} needs at least {smallest} customers; there are {n}.");
            }
            var scaler = ShardedKMeans.ScalerOf(moments, n, d);
            await Task.WhenAll(shards.Select(s => s.ScaleAsync(scaler.Mean, scaler.Std)));
            var kmeans = new ShardedKMeans(shards, counts, d, _options);

            var version = (state.State.Current?.Version ?? 0) + 1;
            // Seeded by the data, not the version: a retrain on unchanged data samples, seeds and scores the same.
            var seed = SeedOf(counts, moments);
            var candidates = new List<KCandidate>();
            FitResult fit;
            if (k == 0)
            {
                // Automatic k: fit each k in range; the current k stays unless another's clusters are clearly better separated.
                var fits = new List<FitResult>();
                for (var kk = _options.KMin; kk <= Math.Min(_options.KMax, n); kk++)
                {
                    var candidate = await FitPreferringContinuityAsync(kmeans, kk, scaler, seed);
                    var (silhouette, sampleSize) = await kmeans.SilhouetteAsync(candidate, seed);
                    candidates.Add(new KCandidate(kk, candidate.Inertia, silhouette, candidate.Iterations, sampleSize));
                    fits.Add(candidate);
                }
                var chosen = KChoice.Choose([.. candidates.Select(c => c.K)], [.. candidates.Select(c => c.Silhouette)],
                    state.State.Current?.K ?? 0, _options.KSwitchMargin);
                fit = fits[chosen];
            }
            else
            {
                fit = await FitPreferringContinuityAsync(kmeans, k, scaler, seed);
                // No silhouette was computed (sample size 0): 0, so every number in a response stays finite.
                candidates.Add(new KCandidate(k, fit.Inertia, 0, fit.Iterations, 0));
            }

            var baseline = await kmeans.BaselineAsync(fit, seed);
            // RFM cut points over the same instant the model is trained at.
            var rfm = RfmRules.CutPoints(await Task.WhenAll(shards.Select(s => s.GetRfmColumnsAsync(asOf))));
            var clv = await FitCustomerValueAsync(shards, asOf);
            var modelSilhouette = k == 0 ? candidates.Single(c => c.K == fit.K).Silhouette : (await kmeans.SilhouetteAsync(fit, seed)).Silhouette;
            var model = Label(new ModelSnapshot(version, fit.K, d, fit.Centroids, scaler.Mean, scaler.Std, [], [], clock.Now, n,
                fit.Inertia, fit.Iterations, reason, Baseline: baseline, Silhouette: modelSilhouette, TrainedSizes: fit.Sizes, Rfm: rfm, Clv: clv));
            var moved = await PublishAndRollOutAsync(model, shards);
            EngineMetrics.Retrains.Inc();
            EngineMetrics.RetrainSeconds.Observe(watch.Elapsed.TotalSeconds);
            EngineMetrics.RetrainIterations.Observe(fit.Iterations);
            return new RetrainOutcome(model, watch.Elapsed.TotalSeconds, moved, candidates.ToArray(), moments.Sum(m => m.Excluded));
        }
        finally
        {
            await Task.WhenAll(shards.Select(s => s.ReleaseAsync()));
        }
    }

    public async Task<RetrainOutcome> RollbackAsync(long version)
    {
        var current = state.State.Current ?? throw new InvalidOperationException("version: there is no model yet");
        if (version < 1 || version >= current.Version || await Archive(version).GetAsync() is not { } target)
        {
            throw new ArgumentException($"version: must be an earlier model than the current {current.Version}, got {version}");
        }
        var watch = Stopwatch.StartNew();
        var shards = Shards();
        try
        {
            // The target's own scaler and centroids, unchanged: only a new drift baseline and the metrics are measured on
            // today's population (one assignment pass), so drift is watched against what the model sees now.
            var moments = await Task.WhenAll(shards.Select(s => s.PrepareAsync(clock.Now)));
            var counts = moments.Select(m => m.Count).ToArray();
            await Task.WhenAll(shards.Select(s => s.ScaleAsync(target.ScalerMean, target.ScalerStd)));
            var parts = await Task.WhenAll(shards.Select(s => s.StepAsync(target.Centroids, target.K)));
            var sizes = new long[target.K];
            foreach (var p in parts)
            {
                for (var c = 0; c < target.K; c++)
                {
                    sizes[c] += p.Counts[c];
                }
            }
            var fit = new FitResult(target.K, target.Centroids, parts.Sum(p => p.Inertia), 0, counts.Sum(), 0, 0, sizes);
            var kmeans = new ShardedKMeans(shards, counts, target.D, _options);
            var seed = SeedOf(counts, moments);
            var baseline = await kmeans.BaselineAsync(fit, seed);
            var (silhouette, _) = await kmeans.SilhouetteAsync(fit, seed);
            // Ids and names are the target's, not matched again: the point of a rollback is the segments it had.
            var model = target with
            {
                Version = current.Version + 1, TrainedAt = clock.Now, Customers = fit.Rows, Inertia = fit.Inertia,
                Iterations = 0, Reason = "rollback", Revision = 0, Baseline = baseline, Silhouette = silhouette,
                TrainedSizes = sizes, RetiredDriftPsi = null, RetiredAt = null, RolledBackFrom = target.Version,
            };
            var moved = await PublishAndRollOutAsync(model, shards);
            EngineMetrics.Retrains.Inc();
            return new RetrainOutcome(model, watch.Elapsed.TotalSeconds, moved, [], moments.Sum(m => m.Excluded));
        }
        finally
        {
            await Task.WhenAll(shards.Select(s => s.ReleaseAsync()));
        }
    }

    public async Task<long[]> CompareModelsAsync(ModelSnapshot a, ModelSnapshot b)
    {
        var parts = await Task.WhenAll(Shards().Select(s => s.CompareModelsAsync(a, b)));
        var counts = new long[a.K * b.K];
        foreach (var p in parts)
        {
            for (var i = 0; i < counts.Length; i++)
            {
                counts[i] += p[i];
            }
        }
        return counts;
    }

    /// <summary>
    /// Retires the current model in the archive (its drift now), archives and publishes <paramref name="model"/>, and
    /// reassigns every shard's customers under it; returns the customers moved.
    /// </summary>
    private async Task<long> PublishAndRollOutAsync(ModelSnapshot model, IShardGrain[] shards)
    {
        if (state.State.Current is { } previous)
        {
            var drift = await GetDriftAsync();
            await Archive(previous.Version).KeepAsync(previous with { RetiredDriftPsi = drift?.Max, RetiredAt = clock.Now });
        }
        // Archived first: once published, its version is logged with events, and a replay may need it at any time.
        await Archive(model.Version).KeepAsync(model);
        await PublishAsync(model);
        LogPublished(logger, model.Version, model.K, model.Customers, model.Inertia, model.Iterations, model.Reason);

        var rollouts = shards.Select((s, i) => RollOutAsync(i, s, model)).ToArray();
        try
        {
            await Task.WhenAll(rollouts);
        }
        finally
        {
            // Not log-driven: persist the shards' new segments now rather than at the next checkpoint, also those
            // of shards that finished when another failed.
            await Task.WhenAll(shards.Select(s => s.CheckpointAsync(-1)));
        }
        return rollouts.Sum(r => r.Result);
    }

    /// <summary>
    /// BG/NBD and Gamma-Gamma by maximum likelihood over every shard's purchase histories at the retrain's as_of. Null
    /// (the model then carries no customer value) when too few customers bought or the optimiser finds no optimum.
    /// </summary>
    private async Task<ClvFit?> FitCustomerValueAsync(IShardGrain[] shards, DateTime asOf)
    {
        var parts = await Task.WhenAll(shards.Select(s => s.GetRepeatSummariesAsync(asOf)));
        return await Task.Run(() =>
        {
            var summaries = parts.SelectMany(p => p.Summaries()).ToList();
            if (Core.Clv.BgNbd.Fit(summaries) is not { } bg)
            {
                return null;
            }
            var gg = Core.Clv.GammaGamma.Fit(summaries) is { } g
                ? new GammaGammaValues(g.Parameters.P, g.Parameters.Q, g.Parameters.Gamma, g.LogLikelihood, g.Customers)
                : null;
            var p = bg.Parameters;
            LogClvFitted(logger, p.R, p.Alpha, p.A, p.B, bg.LogLikelihood, bg.Customers);
            return new ClvFit(asOf, p.R, p.Alpha, p.A, p.B, bg.LogLikelihood, bg.Customers, gg);
        });
    }

    /// <summary>
    /// Asks the shard's customers that the new model may move to reassign, and hands their rows to the shard. The
    /// asking runs here, not in the shard: each reassignment that moves a customer writes its checkpoint (a RETRAIN
    /// is not in the ingest log, so a replay could not re-derive it), and a shard waiting on those writes would hold
    /// back every ingest batch's rows for the whole rollout.
    /// Before each slice the shard drops the customers ingest has reached under the model meanwhile: under full load
    /// that is nearly all of them within seconds, and asking each again spent the cores ingest needs (deploy/bench/HISTORY.md, "Behind the code").
    /// </summary>
    private async Task<long> RollOutAsync(int shard, IShardGrain grain, ModelSnapshot model)
    {
        var watch = Stopwatch.StartNew();
        var candidates = await grain.GetCandidatesAsync(model);
        var (asked, moved, settled) = (0, 0L, 0.0);
        // Round by round, so one customer that cannot be reassigned costs its round's report, not the retrain: the model
        // is published, and the customers a failed round did not reach go back to the sweep when the rollout ends, and
        // adopt the model at their next event anyway.
        async Task<long> AskAsync(string[] ids)
        {
            var reassigned = 0L;
            foreach (var round in ids.Chunk(RolloutParallelism))
            {
                try
                {
                    reassigned += await CustomerRounds.AskAsync(round, id => customers.Get(id).ReassignAsync(model.Version),
                        customers.RecoverAsync, writes, grain.UpsertAsync, RolloutParallelism);
                }
                catch (Exception ex)
                {
                    LogRolloutRoundFailed(logger, ex, shard, model.Version, round.Length);
                    EngineMetrics.CustomerFailures.WithLabels("rollout").Inc();
                }
            }
            return reassigned;
        }
        try
        {
            var settleFrom = watch.Elapsed;
            await LetIngestReachAsync(grain, model.Version, candidates.Length);
            settled = (watch.Elapsed - settleFrom).TotalSeconds;
            foreach (var slice in candidates.Chunk(RolloutParallelism * 8))
            {
                var pending = await grain.StillToReachAsync(slice, model.Version);
                asked += pending.Length;
                moved += await AskAsync(pending);
            }
            // Batches in flight when the model was published are applied within moments; a few rounds catch their customers.
            for (var round = 0; round < 3 && await grain.TakeLateToRolloutAsync(model.Version) is { Length: > 0 } late; round++)
            {
                asked += late.Length;
                moved += await AskAsync(late);
            }
        }
        finally
        {
            // Done or failed, the customers it did not reach go back to the sweep now, not after the shard's 5-minute stall.
            await EndRolloutAsync(shard, grain, model.Version);
        }
        LogApplied(logger, shard, model.Version, candidates.Length, asked, moved, watch.Elapsed.TotalSeconds, settled);
        return moved;
    }

    /// <summary>
    /// Leaves the rollout's customers to ingest while ingest is reaching them. A customer ingest reaches moves by its own
    /// event at no extra cost (the move is derived from the ingest log), while each one the rollout moves costs a call
    /// and a checkpoint on the cores and storage ingest needs. It looks at the shard every settle interval, at most ten
    /// times, until <see cref="RolloutSettle.After"/> says to stop.
    /// </summary>
    private async Task LetIngestReachAsync(IShardGrain grain, long version, int candidates)
    {
        const int MaxLooks = 10;
        var interval = _options.RolloutSettleInterval;
        if (candidates == 0 || interval <= TimeSpan.Zero)
        {
            return;
        }
        var last = Look(await grain.GetRolloutReachAsync(version));
        var quiet = 0;
        for (var look = 0; look < MaxLooks && last.StillToReach > 0; look++)
        {
            await Task.Delay(interval);
            var now = Look(await grain.GetRolloutReachAsync(version));
            (var stop, quiet) = RolloutSettle.After(last, now, quiet);
            if (stop)
            {
                return;
            }
            last = now;
        }

        static RolloutSettle.Look Look(RolloutReach r) => new(r.StillToReach, r.Reached, r.RowsTaken);
    }

    private async Task EndRolloutAsync(int shard, IShardGrain grain, long version)
    {
        try
        {
            await grain.EndRolloutAsync(version);
        }
        catch (Exception ex)
        {
            // The shard's stall timeout ends it instead; the rollout's own outcome (or failure) is what the caller hears.
            LogEndRolloutFailed(logger, ex, shard, version);
        }
    }

    /// <summary>Stores <paramref name="model"/> as the current one, then hands it out; a failed write leaves the old one.</summary>
    private async Task PublishAsync(ModelSnapshot model)
    {
        var previous = state.State.Current;
        state.State.Current = model;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            state.State.Current = previous;
            throw;
        }
        _published = model;
        replica.Offer(model);
    }

    /// <summary>
    /// A fresh k-means++ fit and, when the previous model had this k, one started from its centroids; the warm start
    /// wins unless its inertia is clearly higher (data that moved far can strand it in a poor optimum). Continuity:
    /// on unchanged data the warm start does not move, so no one changes segment.
    /// </summary>
    private async Task<FitResult> FitPreferringContinuityAsync(ShardedKMeans kmeans, int k, Scaler scaler, int seed)
    {
        // Scaled data has unit variance per feature.
        var fit = await kmeans.FitAsync(k, 1.0, warmStart: null, seed);
        if (WarmStart(k, scaler) is { } warm && await kmeans.FitAsync(k, 1.0, warm, seed) is var continued
            && continued.Inertia <= fit.Inertia * (1 + WarmStartSlack))
        {
            fit = continued;
        }
        return fit;
    }

    /// <summary>
    /// The previous model's centroids moved into the new scaled space, when it had the same k. Lloyd from a converged
    /// solution on unchanged data does not move, so a retrain without new information changes no one's segment.
    /// </summary>
    private float[]? WarmStart(int k, Scaler scaler)
    {
        if (state.State.Current is not { } previous || previous.K != k)
        {
            return null;
        }
        return [.. SegmentMatcher.Rescale(previous.Centroids, ScalerOf(previous), scaler).Select(v => (float)v)];
    }

    private IShardGrain[] Shards() => router.All();

    /// <summary>Gives the new centroids ids and names: matched ones keep the previous model's, the rest get new ones.</summary>
    private ModelSnapshot Label(ModelSnapshot model)
    {
        var flat = ModelMath.CentroidsInOriginalUnits(model).SelectMany(r => r).ToArray();
        var mean = new double[model.D];
        FeatureTransform.Inverse(model.ScalerMean, mean);
        var suggested = SegmentNamer.Name(flat, model.K, mean);
        var match = new int[model.K];
        Array.Fill(match, -1);
        var previous = state.State.Current;
        if (previous is not null)
        {
            var old = SegmentMatcher.Rescale(previous.Centroids, ScalerOf(previous), ScalerOf(model));
            match = SegmentMatcher.Match(model.Centroids, model.K, old, previous.K, model.D);
        }
        var (ids, names, next) = SegmentMatcher.Label(match, previous?.SegmentIds ?? [], previous?.Names ?? [], suggested, state.State.NextSegmentNumber);
        state.State.NextSegmentNumber = next;
        return model with { SegmentIds = ids, Names = names };
    }

    private static Scaler ScalerOf(ModelSnapshot model) => new(model.ScalerMean, model.ScalerStd);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Version} drifted (max PSI {Psi:F3} > {Threshold}): retraining")]
    private static partial void LogDrift(ILogger logger, long version, double psi, double threshold);

    [LoggerMessage(Level = LogLevel.Information, Message = "Customer value fit: BG/NBD r={R:F4} alpha={Alpha:F4} a={A:F4} b={B:F4}, log-likelihood {LogLikelihood:F1} over {Customers} customers")]
    private static partial void LogClvFitted(ILogger logger, double r, double alpha, double a, double b, double logLikelihood, int customers);

    [LoggerMessage(Level = LogLevel.Information, Message = "Published model {Version}: k={K}, {Customers} customers, inertia {Inertia:F1}, {Iterations} iterations, reason {Reason}")]
    private static partial void LogPublished(ILogger logger, long version, int k, long customers, double inertia, int iterations, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard} could not be told that the rollout of model {Version} ended; it forgets it after 5 minutes")]
    private static partial void LogEndRolloutFailed(ILogger logger, Exception ex, int shard, long version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: a rollout round of model {Version} failed for some of its {Customers} customers; they are left to the sweep and their next event")]
    private static partial void LogRolloutRoundFailed(ILogger logger, Exception exception, int shard, long version, int customers);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Shard {Shard} applied model {Version}: {Candidates} candidates, {Asked} asked (the others reached by ingest), {Moved} moved in {Seconds:F1} s, of which {Settle:F1} s left to ingest")]
    private static partial void LogApplied(ILogger logger, int shard, long version, int candidates, int asked, long moved, double seconds, double settle);

    /// <summary>The seed of a retrain's random choices, from the shards' row counts and feature moments (<see cref="DataSeed"/>).</summary>
    private static int SeedOf(long[] counts, IEnumerable<Moments> moments) =>
        DataSeed.Of(counts, moments.SelectMany(m => m.Sum.Concat(m.SumOfSquares)));
}
