using System.Diagnostics;
using Engine.Abstractions;
using Engine.Core;

namespace Engine.Grains;

/// <summary>
/// k-means over the shards' training matrices for one retrain (Spark MLlib's shape): k-means++ on a pooled weighted
/// sample, then Lloyd iterations where each shard returns O(k·d) partial sums; the drift baseline and the silhouette
/// from samples. The shards hold the data; this holds only the call's arguments. The math itself is in Core
/// (<see cref="KMeansMath"/>, <see cref="Psi"/>, <see cref="Silhouette"/>).
/// </summary>
public sealed class ShardedKMeans(IShardTraining[] shards, long[] counts, int d, ModelOptions options)
{
    /// <summary>Rows pooled for k-means++ seeding; enough to find small clusters, small enough to seed in milliseconds.</summary>
    public const int SeedSampleSize = 20_000;

    /// <summary>
    /// k-means over the shards' training matrices: k-means++ on a pooled sample (each shard sends a share proportional
    /// to its size; weights undo the sampling rate) unless a warm start is given, then Lloyd iterations where each
    /// shard returns partial sums, until the largest centroid shift is below the tolerance.
    /// </summary>
    public async Task<FitResult> FitAsync(int k, double meanVariance, float[]? warmStart, int seed)
    {
        var watch = Stopwatch.StartNew();
        var n = counts.Sum();
        float[] centroids;
        if (warmStart is not null)
        {
            centroids = warmStart;
        }
        else
        {
            var (sample, weights) = await PooledSampleAsync(seed * 7919);
            centroids = KMeansMath.SeedPlusPlus(sample, d, k, weights, new Random(seed));
        }
        var seedSeconds = watch.Elapsed.TotalSeconds;
        float[]? reseedPool = null;

        var iterations = 0;
        var inertia = 0.0;
        var startInertia = double.NaN;
        var start = (float[])centroids.Clone();
        long[] startSizes = [];
        long[] sizes = [];
        var threshold = options.Tolerance * meanVariance;
        while (iterations < options.MaxIterations)
        {
            var parts = await Task.WhenAll(shards.Select(s => s.StepAsync(centroids, k)));
            var sums = new double[k * d];
            var clusterSizes = new long[k];
            inertia = 0;
            foreach (var p in parts)
            {
                for (var i = 0; i < sums.Length; i++)
                {
                    sums[i] += p.Sums[i];
                }
                for (var c = 0; c < k; c++)
                {
                    clusterSizes[c] += p.Counts[c];
                }
                inertia += p.Inertia;
            }
            iterations++;
            if (clusterSizes.Contains(0))
            {
                // An empty cluster would keep its centroid forever: move it to the sampled row farthest from every
                // centroid (the point the current solution explains worst), then iterate again.
                reseedPool ??= (await PooledSampleAsync(seed * 65537)).Rows;
                KMeansMath.ReseedEmpty(centroids, clusterSizes, reseedPool, d, k);
                continue;
            }
            sizes = clusterSizes;
            if (iterations == 1)
            {
                (startInertia, startSizes) = (inertia, clusterSizes);
            }
            if (KMeansMath.UpdateCentroids(sums, clusterSizes, centroids, k, d) <= threshold)
            {
                break;
            }
        }
        if (warmStart is not null && startInertia - inertia < options.MinInertiaGain * startInertia)
        {
            // Nothing material to learn: keep the previous centroids so no one moves for nothing.
            return new FitResult(k, start, startInertia, iterations, n, seedSeconds, watch.Elapsed.TotalSeconds, startSizes);
        }
        return new FitResult(k, centroids, inertia, iterations, n, seedSeconds, watch.Elapsed.TotalSeconds, sizes);
    }

    /// <summary>
    /// The drift baseline: decile edges of every scaled feature from a sample, the training population's share per
    /// bin, and the share of each cluster.
    /// </summary>
    public async Task<DriftBaseline> BaselineAsync(FitResult fit, int seed)
    {
        var (pooled, _) = await PooledSampleAsync(seed * 104729);
        var edges = Enumerable.Range(0, d)
            .Select(j => Psi.QuantileEdges(Enumerable.Range(0, pooled.Length / d).Select(i => (double)pooled[i * d + j]), options.DriftBins))
            .ToArray();
        var histograms = await Task.WhenAll(shards.Select(s => s.GetTrainingHistogramAsync(edges)));
        var shares = edges.Select((e, j) =>
        {
            var total = new long[e.Length + 1];
            foreach (var h in histograms)
            {
                for (var b = 0; b < total.Length; b++)
                {
                    total[b] += h[j][b];
                }
            }
            return Psi.Shares(total);
        }).ToArray();
        return new DriftBaseline(edges, shares, Psi.Shares(fit.Sizes));
    }

    /// <summary>
    /// About <see cref="SeedSampleSize"/> training rows pooled from the shards, each shard sending a share proportional
    /// to its size; a row's weight (shard rows / rows sent) undoes the sampling rate.
    /// </summary>
    private async Task<(float[] Rows, double[] Weights)> PooledSampleAsync(int seed)
    {
        var n = Math.Max(1, counts.Sum());
        var samples = await Task.WhenAll(shards.Select((s, i) => s.SampleAsync((int)Math.Ceiling((double)SeedSampleSize * counts[i] / n), seed + i)));
        var weights = new List<double>();
        for (var i = 0; i < samples.Length; i++)
        {
            var rows = samples[i].Length / d;
            weights.AddRange(Enumerable.Repeat(rows == 0 ? 0 : (double)counts[i] / rows, rows));
        }
        return (samples.SelectMany(x => x).ToArray(), weights.ToArray());
    }

    /// <summary>Silhouette on a stratified sample: every cluster contributes, so a small "At risk" cluster counts.</summary>
    public async Task<(double Silhouette, int SampleSize)> SilhouetteAsync(FitResult fit, int seed)
    {
        var perShard = (int)Math.Ceiling((double)options.SilhouettePerCluster / shards.Length) + 1;
        var parts = await Task.WhenAll(shards.Select((s, i) => s.SampleByClusterAsync(fit.Centroids, fit.K, perShard, seed * 31 + i)));
        var rows = new List<float>();
        var labels = new List<int>();
        var taken = new int[fit.K];
        foreach (var part in parts)
        {
            for (var i = 0; i < part.Labels.Length; i++)
            {
                var c = part.Labels[i];
                if (taken[c]++ < options.SilhouettePerCluster)
                {
                    rows.AddRange(part.Rows.AsSpan(i * d, d).ToArray());
                    labels.Add(c);
                }
            }
        }
        var silhouette = await Task.Run(() => Silhouette.Compute(rows.ToArray(), labels.ToArray(), d, fit.K));
        return (silhouette, labels.Count);
    }

    /// <summary>
    /// Exactly a retrain's k-means (seeding and Lloyd over the shards) on training matrices the shards already hold,
    /// without publishing anything; the tolerance is scaled to their variance, as the data is not standardised. The
    /// k-means benchmark's and a grain test's way in, after <see cref="IShardTrainingLoader.LoadTrainingAsync"/>.
    /// </summary>
    public static async Task<FitResult> FitLoadedAsync(IShardTraining[] shards, int k, int d, int seed, ModelOptions options)
    {
        var moments = await Task.WhenAll(shards.Select(s => s.GetTrainingMomentsAsync()));
        var n = moments.Sum(m => m.Count);
        var meanVariance = ScalerOf(moments, n, d).Std.Average(s => s * s);
        return await new ShardedKMeans(shards, moments.Select(m => m.Count).ToArray(), d, options).FitAsync(k, meanVariance, warmStart: null, seed);
    }

    /// <summary>The scaler of the whole population, from the shards' moments.</summary>
    public static Scaler ScalerOf(Moments[] moments, long n, int d)
    {
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
        return Scaler.FromMoments(n, sum, sumSq);
    }
}
