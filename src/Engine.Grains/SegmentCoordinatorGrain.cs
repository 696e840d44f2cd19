using System.Diagnostics;
using Engine.Abstractions;
using Engine.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>
/// Distributed k-means over the shard grains (Spark MLlib's shape): fit the scaler from shard moments, seed with
/// k-means++ on a pooled weighted sample, then Lloyd iterations where each shard returns partial sums. The new
/// centroids are matched to the previous model's (Hungarian on distance) so segment ids and names survive a retrain;
/// the model is persisted, then every shard reassigns its customers (cause RETRAIN).
/// </summary>
public sealed partial class SegmentCoordinatorGrain(
    [PersistentState("coordinator", StorageNames.Engine)] IPersistentState<CoordinatorState> state,
    ShardRouter router,
    ModelReplica replica,
    EngineClock clock,
    IOptions<EngineOptions> options,
    ILogger<SegmentCoordinatorGrain> logger) : Grain, ISegmentCoordinatorGrain
{
    /// <summary>Rows pooled for k-means++ seeding; enough to find small clusters, small enough to seed in milliseconds.</summary>
    private const int SeedSampleSize = 20_000;

    /// <summary>A new centroid farther than this (in the new model's standardised units) from its match is a new segment.</summary>
    private const double MatchDistance = 1.0;

    private readonly EngineOptions _options = options.Value;

    public Task<ModelSnapshot?> GetModelAsync() => Task.FromResult(state.State.Current);

    public async Task<RetrainOutcome> RetrainAsync(int k, string reason)
    {
        if (reason == "first" && state.State.Current is { } existing)
        {
            return new RetrainOutcome(existing, 0, 0);
        }
        var watch = Stopwatch.StartNew();
        var d = FeatureNames.Count;
        var shards = Enumerable.Range(0, router.Shards).Select(i => GrainFactory.GetGrain<IShardGrain>(i)).ToArray();
        var asOf = clock.Now;

        var moments = await Task.WhenAll(shards.Select(s => s.PrepareAsync(asOf)));
        var n = moments.Sum(m => m.Count);
        if (n < k)
        {
            await Task.WhenAll(shards.Select(s => s.ReleaseAsync()));
            throw new InvalidOperationException($"k = {k} needs at least {k} customers; there are {n}.");
        }
        var sum = new double[d];
        var sumSq = new double[d];
        foreach (var m in moments)
        {
            for (var j = 0; j < d; j++)
            {
                sum[j] += m.Sum[j];
                sumSq[j] += m.SumOfSquares[j];
            }
        }
        var scaler = Scaler.FromMoments(n, sum, sumSq);

        // Each shard sends a share of the seeding sample proportional to its size; weights undo the sampling rate.
        var version = (state.State.Current?.Version ?? 0) + 1;
        var samples = await Task.WhenAll(shards.Select((s, i) =>
            s.ScaleAndSampleAsync(scaler.Mean, scaler.Std, (int)Math.Ceiling((double)SeedSampleSize * moments[i].Count / n), (int)version * 7919 + i)));
        var pooled = samples.SelectMany(x => x).ToArray();
        var weights = new List<double>();
        for (var i = 0; i < samples.Length; i++)
        {
            var rows = samples[i].Length / d;
            weights.AddRange(Enumerable.Repeat(rows == 0 ? 0 : (double)moments[i].Count / rows, rows));
        }
        var centroids = KMeansMath.SeedPlusPlus(pooled, d, k, weights.ToArray(), new Random((int)version));

        var iterations = 0;
        var inertia = 0.0;
        while (iterations < _options.MaxIterations)
        {
            var parts = await Task.WhenAll(shards.Select(s => s.StepAsync(centroids, k)));
            var sums = new double[k * d];
            var counts = new long[k];
            inertia = 0;
            foreach (var p in parts)
            {
                for (var i = 0; i < sums.Length; i++)
                {
                    sums[i] += p.Sums[i];
                }
                for (var c = 0; c < k; c++)
                {
                    counts[c] += p.Counts[c];
                }
                inertia += p.Inertia;
            }
            iterations++;
            var shift = KMeansMath.UpdateCentroids(sums, counts, centroids, k, d);
            if (shift < _options.Tolerance)
            {
                break;
            }
        }
        await Task.WhenAll(shards.Select(s => s.ReleaseAsync()));

        var model = Label(new ModelSnapshot(version, k, d, centroids, scaler.Mean, scaler.Std, [], [], clock.Now, n, inertia, iterations, reason));
        state.State.Current = model;
        await state.WriteStateAsync();
        replica.Offer(model);
        LogPublished(logger, model.Version, k, n, inertia, iterations, reason);

        var moved = (await Task.WhenAll(shards.Select(s => s.ApplyModelAsync(model)))).Sum();
        // The sweep is not log-driven: persist the shards' new segments now rather than at the next checkpoint.
        await Task.WhenAll(shards.Select(s => s.CheckpointAsync(-1)));
        EngineMetrics.Retrains.Inc();
        watch.Stop();
        return new RetrainOutcome(model, watch.Elapsed.TotalSeconds, moved);
    }

    /// <summary>Gives the new centroids ids and names: matched ones keep the previous model's, the rest get new ones.</summary>
    private ModelSnapshot Label(ModelSnapshot model)
    {
        var k = model.K;
        var ids = new string[k];
        var names = new string[k];
        var raw = ModelMath.CentroidsInOriginalUnits(model);
        var flat = raw.SelectMany(r => r).ToArray();
        var mean = new double[model.D];
        var transformedMean = model.ScalerMean;
        FeatureTransform.Inverse(transformedMean, mean);
        var suggested = SegmentNamer.Name(flat, k, mean);

        if (state.State.Current is { } previous)
        {
            var cost = new double[k, previous.K];
            for (var c = 0; c < k; c++)
            {
                for (var p = 0; p < previous.K; p++)
                {
                    cost[c, p] = DistanceInNewSpace(model, c, previous, p);
                }
            }
            var match = Hungarian.Solve(cost);
            for (var c = 0; c < k; c++)
            {
                if (match[c] >= 0 && cost[c, match[c]] <= MatchDistance)
                {
                    ids[c] = previous.SegmentIds[match[c]];
                    names[c] = previous.Names[match[c]];
                }
            }
        }
        var used = new HashSet<string>(names.Where(x => x is not null), StringComparer.Ordinal);
        for (var c = 0; c < k; c++)
        {
            if (ids[c] is not null)
            {
                continue;
            }
            ids[c] = $"seg-{state.State.NextSegmentNumber++}";
            var name = suggested[c];
            for (var suffix = 2; !used.Add(name); suffix++)
            {
                name = $"{suggested[c]} {suffix}";
            }
            names[c] = name;
        }
        return model with { SegmentIds = ids, Names = names };
    }

    /// <summary>Distance between a new centroid and an old one, both expressed in the new model's scaled space.</summary>
    private static double DistanceInNewSpace(ModelSnapshot model, int c, ModelSnapshot previous, int p)
    {
        var total = 0.0;
        for (var j = 0; j < model.D; j++)
        {
            var oldTransformed = previous.Centroids[p * previous.D + j] * previous.ScalerStd[j] + previous.ScalerMean[j];
            var oldScaled = (oldTransformed - model.ScalerMean[j]) / model.ScalerStd[j];
            var diff = model.Centroids[c * model.D + j] - oldScaled;
            total += diff * diff;
        }
        return Math.Sqrt(total);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Published model {Version}: k={K}, {Customers} customers, inertia {Inertia:F1}, {Iterations} iterations, reason {Reason}")]
    private static partial void LogPublished(ILogger logger, long version, int k, long customers, double inertia, int iterations, string reason);
}
