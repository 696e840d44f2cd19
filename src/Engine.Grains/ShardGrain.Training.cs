using Engine.Abstractions;
using Engine.Core;
using Microsoft.Extensions.Logging;

namespace Engine.Grains;

// A shard's part of a retrain (IShardTraining, and the benchmark's loader): the training matrix prepared from the rows, and the k-means steps over it. CPU-heavy loops run on the thread pool, off the grain's turn.
public sealed partial class ShardGrain
{
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

    public async Task<RepeatSummaries> GetRepeatSummariesAsync(DateTime asOf)
    {
        var rows = _rows;
        return await Task.Run(() =>
        {
            var summaries = new List<Engine.Core.Clv.RepeatSummary>();
            for (var i = 0; i < rows.Count; i++)
            {
                if (rows.PurchaseHistoryAt(i) is { } h)
                {
                    summaries.Add(h.At(asOf));
                }
            }
            return RepeatSummaries.Of(summaries);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: {Excluded} rows with features that are not finite were left out of training")]
    private static partial void LogRowsExcluded(ILogger logger, int shard, long excluded);
}
