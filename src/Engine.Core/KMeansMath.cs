using System.Numerics;
using System.Runtime.InteropServices;
using System.Numerics.Tensors;

namespace Engine.Core;

/// <summary>Nearest centroid and the runner-up, as Euclidean distances.</summary>
public readonly record struct Nearest(int Index, float Distance, int SecondIndex, float SecondDistance);

/// <summary>The result of a single-process k-means fit.</summary>
public sealed record KMeansResult(float[] Centroids, int K, int D, double Inertia, int Iterations, int[] Assignments);

/// <summary>
/// The k-means kernels. Lloyd's step is split so each shard computes partial sums over its own rows and only
/// O(k·d) numbers travel (Spark MLlib's design); the coordinator adds them up and moves the centroids.
/// </summary>
public static class KMeansMath
{
    /// <summary>
    /// One Lloyd pass over a block of row-major rows: nearest centroid per row, its row added into
    /// sums[c·d..], counts[c]++, assignments[i] when given; returns the block's inertia (sum of squared distances).
    /// Centroids are transposed and padded to a SIMD width so one row's distances to W centroids are d vector
    /// operations, with no allocation per row.
    /// </summary>
    public static double AccumulateAssign(ReadOnlySpan<float> rows, int d, ReadOnlySpan<float> centroids, int k,
        Span<double> sums, Span<long> counts, Span<int> assignments)
    {
        var width = Vector<float>.Count;
        var blocks = (k + width - 1) / width;
        var transposed = MemoryMarshal.Cast<float, Vector<float>>(Transpose(centroids, k, d, blocks * width).AsSpan());
        Span<float> distances = blocks * width <= 1024 ? stackalloc float[blocks * width] : new float[blocks * width];
        var lanes = MemoryMarshal.Cast<float, Vector<float>>(distances);
        var n = rows.Length / d;
        var inertia = 0.0;
        for (var i = 0; i < n; i++)
        {
            var row = rows.Slice(i * d, d);
            for (var b = 0; b < blocks; b++)
            {
                var acc = Vector<float>.Zero;
                var block = transposed.Slice(b * d, d);
                for (var j = 0; j < block.Length; j++)
                {
                    var diff = new Vector<float>(row[j]) - block[j];
                    acc += diff * diff;
                }
                lanes[b] = acc;
            }
            // A vectorised argmin: with real data the winner is unpredictable, and a mispredicted branch per centroid
            // would cost more than the distance arithmetic itself. Ties go to the lowest index, as in FindNearest.
            var best = TensorPrimitives.IndexOfMin(distances[..k]);
            var bestDistance = distances[best];
            var sum = sums.Slice(best * d, d);
            for (var j = 0; j < sum.Length; j++)
            {
                sum[j] += row[j];
            }
            counts[best]++;
            inertia += bestDistance;
            if (!assignments.IsEmpty)
            {
                assignments[i] = best;
            }
        }
        return inertia;
    }

    /// <summary>
    /// Nearest and runner-up centroid for one point; the gap between the two distances says how firmly the point
    /// belongs. With k = 1 the runner-up is −1 at +∞.
    /// </summary>
    public static Nearest FindNearest(ReadOnlySpan<float> x, ReadOnlySpan<float> centroids, int k)
    {
        var d = x.Length;
        int best = -1, second = -1;
        float bestDistance = float.PositiveInfinity, secondDistance = float.PositiveInfinity;
        for (var c = 0; c < k; c++)
        {
            var distance = TensorPrimitives.Distance(x, centroids.Slice(c * d, d));
            if (distance < bestDistance)
            {
                (second, secondDistance) = (best, bestDistance);
                (best, bestDistance) = (c, distance);
            }
            else if (distance < secondDistance)
            {
                (second, secondDistance) = (c, distance);
            }
        }
        return new Nearest(best, bestDistance, second, secondDistance);
    }

    /// <summary>
    /// Greedy k-means++ (D² sampling, as scikit-learn does it): each new centre is the best of 2 + ⌊ln k⌋ D²-sampled
    /// candidates, the one that lowers the weighted potential most. Deterministic for a given <paramref name="rng"/>.
    /// </summary>
    public static float[] SeedPlusPlus(ReadOnlySpan<float> sample, int d, int k, ReadOnlySpan<double> weights, Random rng)
    {
        var m = sample.Length / d;
        if (m < k)
        {
            throw new ArgumentException($"k-means++ needs at least k = {k} rows, got {m}.", nameof(sample));
        }
        var w = weights.IsEmpty ? Enumerable.Repeat(1.0, m).ToArray() : weights.ToArray();
        var trials = 2 + (int)Math.Log(k);
        var centroids = new float[k * d];
        var closest = new double[m];
        var candidate = new double[m];
        var best = new double[m];
        sample.Slice(Pick(w, rng) * d, d).CopyTo(centroids);
        SquaredDistancesTo(sample, d, centroids.AsSpan(0, d), closest);
        var score = new double[m];
        for (var c = 1; c < k; c++)
        {
            for (var i = 0; i < m; i++)
            {
                score[i] = w[i] * closest[i];
            }
            var total = score.Sum();
            var bestPotential = double.PositiveInfinity;
            var bestRow = -1;
            for (var t = 0; t < trials; t++)
            {
                // All remaining rows coincide with chosen centroids: fall back to weights alone.
                var row = total > 0 ? Pick(score, rng) : Pick(w, rng);
                SquaredDistancesTo(sample, d, sample.Slice(row * d, d), candidate);
                var potential = 0.0;
                for (var i = 0; i < m; i++)
                {
                    candidate[i] = Math.Min(candidate[i], closest[i]);
                    potential += w[i] * candidate[i];
                }
                if (potential < bestPotential)
                {
                    (bestPotential, bestRow) = (potential, row);
                    Array.Copy(candidate, best, m);
                }
            }
            sample.Slice(bestRow * d, d).CopyTo(centroids.AsSpan(c * d, d));
            Array.Copy(best, closest, m);
        }
        return centroids;
    }

    private static void SquaredDistancesTo(ReadOnlySpan<float> sample, int d, ReadOnlySpan<float> centre, Span<double> result)
    {
        for (var i = 0; i < result.Length; i++)
        {
            var distance = (double)TensorPrimitives.Distance(sample.Slice(i * d, d), centre);
            result[i] = distance * distance;
        }
    }

    /// <summary>
    /// New centroids = sums / counts; an empty cluster keeps its previous centroid. Returns the sum over centroids of
    /// the squared shift (scikit-learn's convergence measure: stop when it is below tol × the mean feature variance).
    /// </summary>
    public static double UpdateCentroids(ReadOnlySpan<double> sums, ReadOnlySpan<long> counts, Span<float> centroids, int k, int d)
    {
        var shift = 0.0;
        Span<float> next = stackalloc float[d];
        for (var c = 0; c < k; c++)
        {
            if (counts[c] == 0)
            {
                continue;
            }
            for (var j = 0; j < d; j++)
            {
                next[j] = (float)(sums[c * d + j] / counts[c]);
            }
            var centroid = centroids.Slice(c * d, d);
            var distance = (double)TensorPrimitives.Distance(next, centroid);
            shift += distance * distance;
            next.CopyTo(centroid);
        }
        return shift;
    }

    /// <summary>
    /// Moves each empty cluster's centroid (size 0 in <paramref name="sizes"/>) to the <paramref name="pool"/> row farthest
    /// from every centroid, the point the current solution explains worst, one cluster after another, so two empty
    /// clusters never take the same row. An empty centroid would otherwise stay where it is forever.
    /// </summary>
    public static void ReseedEmpty(Span<float> centroids, ReadOnlySpan<long> sizes, ReadOnlySpan<float> pool, int d, int k)
    {
        var m = pool.Length / d;
        var far = new double[m];
        for (var i = 0; i < m; i++)
        {
            far[i] = FindNearest(pool.Slice(i * d, d), centroids, k).Distance;
        }
        for (var c = 0; c < k; c++)
        {
            if (sizes[c] != 0 || m == 0)
            {
                continue;
            }
            var best = Array.IndexOf(far, far.Max());
            pool.Slice(best * d, d).CopyTo(centroids.Slice(c * d, d));
            far[best] = 0;
            for (var i = 0; i < m; i++)
            {
                far[i] = Math.Min(far[i], TensorPrimitives.Distance(pool.Slice(i * d, d), centroids.Slice(c * d, d)));
            }
        }
    }


    /// <summary>
    /// Single-process reference fit: k-means++ on up to 10,000 sampled rows, then Lloyd until the squared centroid
    /// shift is below <paramref name="tolerance"/> × the mean feature variance.
    /// </summary>
    public static KMeansResult Fit(ReadOnlySpan<float> rows, int d, int k, int maxIterations, double tolerance, int seed)
    {
        var n = rows.Length / d;
        var rng = new Random(seed);
        var sampleSize = Math.Min(n, 10_000);
        var sample = new float[sampleSize * d];
        var order = Enumerable.Range(0, n).ToArray();
        for (var i = 0; i < sampleSize; i++)
        {
            var j = rng.Next(i, n);
            (order[i], order[j]) = (order[j], order[i]);
            rows.Slice(order[i] * d, d).CopyTo(sample.AsSpan(i * d, d));
        }
        var centroids = SeedPlusPlus(sample, d, k, [], rng);
        var threshold = tolerance * Scaler.Fit(rows, d).Std.Average(s => s * s);
        var assignments = new int[n];
        var inertia = 0.0;
        var iterations = 0;
        while (iterations < maxIterations)
        {
            var sums = new double[k * d];
            var counts = new long[k];
            inertia = AccumulateAssign(rows, d, centroids, k, sums, counts, assignments);
            iterations++;
            if (UpdateCentroids(sums, counts, centroids, k, d) <= threshold)
            {
                break;
            }
        }
        inertia = AccumulateAssign(rows, d, centroids, k, new double[k * d], new long[k], assignments);
        return new KMeansResult(centroids, k, d, inertia, iterations, assignments);
    }

    /// <summary>
    /// Centroids laid out block by block: block b holds, for each feature j, the j-th coordinate of centroids
    /// b·W … b·W + W − 1 side by side (W = SIMD width), so one broadcast row value meets W centroids at once.
    /// </summary>
    private static float[] Transpose(ReadOnlySpan<float> centroids, int k, int d, int kPad)
    {
        // Padding lanes sit far away so they never win (past d ≈ 340 they overflow to +∞, which never wins either).
        var width = Vector<float>.Count;
        var t = new float[d * kPad];
        Array.Fill(t, 1e18f);
        for (var c = 0; c < k; c++)
        {
            for (var j = 0; j < d; j++)
            {
                t[(c / width * d + j) * width + c % width] = centroids[c * d + j];
            }
        }
        return t;
    }

    private static int Pick(ReadOnlySpan<double> weights, Random rng)
    {
        var total = 0.0;
        foreach (var w in weights)
        {
            total += w;
        }
        var target = rng.NextDouble() * total;
        for (var i = 0; i < weights.Length; i++)
        {
            target -= weights[i];
            if (target < 0)
            {
                return i;
            }
        }
        for (var i = weights.Length - 1; i >= 0; i--)
        {
            if (weights[i] > 0)
            {
                return i;
            }
        }
        return weights.Length - 1;
    }
}
