using System.Numerics.Tensors;

namespace Engine.Core;

/// <summary>
/// Standardising scaler stored with each model. A constant feature gets Std 1, so scaling never divides by zero and
/// the feature simply contributes nothing to distances.
/// </summary>
public sealed record Scaler(double[] Mean, double[] Std)
{
    /// <summary>Fits from first and second moments, so shards send O(d) numbers instead of rows.</summary>
    public static Scaler FromMoments(long count, ReadOnlySpan<double> sum, ReadOnlySpan<double> sumOfSquares)
    {
        var d = sum.Length;
        var mean = new double[d];
        var std = new double[d];
        for (var j = 0; j < d; j++)
        {
            mean[j] = count == 0 ? 0 : sum[j] / count;
            var variance = count == 0 ? 0 : Math.Max(0, sumOfSquares[j] / count - mean[j] * mean[j]);
            var s = Math.Sqrt(variance);
            std[j] = s < 1e-9 ? 1 : s;
        }
        return new Scaler(mean, std);
    }

    /// <summary>Fits from rows directly; a convenience for tests and small data that goes through the same moment path.</summary>
    public static Scaler Fit(ReadOnlySpan<float> rows, int d)
    {
        var n = rows.Length / d;
        var sum = new double[d];
        var sumSq = new double[d];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < d; j++)
            {
                double v = rows[i * d + j];
                sum[j] += v;
                sumSq[j] += v * v;
            }
        }
        return FromMoments(n, sum, sumSq);
    }

    /// <summary>In place, any number of row-major rows.</summary>
    public void Transform(Span<float> rows)
    {
        var d = Mean.Length;
        var shift = Mean.Select(m => (float)m).ToArray();
        var inverseStd = Std.Select(s => (float)(1 / s)).ToArray();
        for (var offset = 0; offset + d <= rows.Length; offset += d)
        {
            var row = rows.Slice(offset, d);
            TensorPrimitives.Subtract(row, shift, row);
            TensorPrimitives.Multiply(row, inverseStd, row);
        }
    }

    /// <summary>
    /// One customer's raw features (original units) → transformed (<see cref="FeatureTransform.Forward"/>) → standardised,
    /// into <paramref name="x"/> without allocating: the per-event path (an assignment, a shard row's schedule). The same
    /// float arithmetic per element as <see cref="Transform"/> on the shards, so a value on a drift bin edge lands in the
    /// same bin whichever path scaled it.
    /// </summary>
    public static void Scale(ReadOnlySpan<double> raw, ReadOnlySpan<double> mean, ReadOnlySpan<double> std, Span<float> x)
    {
        FeatureTransform.Forward(raw, x);
        for (var j = 0; j < x.Length; j++)
        {
            x[j] = (x[j] - (float)mean[j]) * (float)(1 / std[j]);
        }
    }

    /// <summary>
    /// Feature <paramref name="j"/>'s raw value <paramref name="v"/> transformed and standardised, in double: for bounds
    /// over an interval (<see cref="AgingBound"/>), which compare differences of such values rather than bin them.
    /// </summary>
    public static double ScaleOne(int j, double v, ReadOnlySpan<double> mean, ReadOnlySpan<double> std) =>
        (FeatureTransform.Forward(j, v) - mean[j]) / std[j];

    /// <summary>Scaled centroids (k rows, row-major) back to original feature units, one row per centroid.</summary>
    public double[][] ToOriginalUnits(ReadOnlySpan<float> centroids, int k)
    {
        var d = Mean.Length;
        var unscaled = new double[k * d];
        Inverse(centroids[..(k * d)], unscaled);
        var rows = new double[k][];
        for (var c = 0; c < k; c++)
        {
            rows[c] = new double[d];
            FeatureTransform.Inverse(unscaled.AsSpan(c * d, d), rows[c]);
        }
        return rows;
    }

    /// <summary>Back to transformed-but-unscaled units for one or more rows, in double so reporting loses nothing more.</summary>
    public void Inverse(ReadOnlySpan<float> scaled, Span<double> unscaled)
    {
        var d = Mean.Length;
        for (var i = 0; i < scaled.Length; i++)
        {
            unscaled[i] = scaled[i] * Std[i % d] + Mean[i % d];
        }
    }
}
