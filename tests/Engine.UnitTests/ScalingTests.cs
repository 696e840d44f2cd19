using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public sealed class ScalingTests
{
    [Fact]
    public void FeatureTransform_inverts_exactly_including_negative_monetary()
    {
        var raw = new double[] { 12.5, 3, -40, 13.3, 200, 2, 0, 0.25, 1, 2, 0.1 };
        var transformed = new float[raw.Length];
        FeatureTransform.Forward(raw, transformed);
        Assert.Equal(-Math.Log(41), transformed[2], 1e-5);
        Assert.Equal(0.25f, transformed[7]);
        var back = new double[raw.Length];
        FeatureTransform.Inverse(transformed.Select(x => (double)x).ToArray(), back);
        for (var j = 0; j < raw.Length; j++)
        {
            Assert.Equal(raw[j], back[j], Math.Abs(raw[j]) * 1e-5 + 1e-6);
        }
    }

    [Fact]
    public void Scaler_from_moments_equals_fit_and_round_trips()
    {
        var rng = new Random(3);
        const int d = 3;
        var rows = Enumerable.Range(0, 300 * d).Select(i => i % d == 2 ? 5f : (float)(rng.NextDouble() * 10)).ToArray();
        var fit = Scaler.Fit(rows, d);
        var sum = new double[d];
        var sumSq = new double[d];
        for (var i = 0; i < rows.Length; i++)
        {
            sum[i % d] += rows[i];
            sumSq[i % d] += (double)rows[i] * rows[i];
        }
        var moments = Scaler.FromMoments(300, sum, sumSq);
        Assert.Equal(fit.Mean, moments.Mean);
        Assert.Equal(fit.Std, moments.Std);
        Assert.Equal(1, fit.Std[2]);   // constant column

        var scaled = (float[])rows.Clone();
        fit.Transform(scaled);
        Assert.Equal(0, scaled.Where((_, i) => i % d == 0).Average(), 1e-4);
        var back = new double[rows.Length];
        fit.Inverse(scaled, back);
        for (var i = 0; i < rows.Length; i++)
        {
            Assert.Equal(rows[i], back[i], 1e-4);
        }
    }

    [Fact]
    public void Feature_names_are_the_eleven_in_vector_order()
    {
        Assert.Equal(11, FeatureNames.Count);
        Assert.Equal(["recency_days", "frequency", "monetary", "avg_order_value", "tenure_days", "purchases_90d", "sessions_30d",
            "cart_abandon_rate_90d", "support_tickets_90d", "category_count", "refund_rate"], FeatureNames.All);
        Assert.Equal(7, FeatureNames.IndexOf(FeatureNames.CartAbandonRate90d));
        Assert.Throws<ArgumentException>(() => FeatureNames.IndexOf("recency"));
        Assert.Equal([true, true, true, true, true, true, true, false, true, true, false], FeatureTransform.LogTransformed);
    }

    [Fact]
    public void RowNormalize_keeps_empty_rows_zero()
    {
        var p = TransitionMath.RowNormalize([1, 3, 0, 0], 2);
        Assert.Equal([0.25, 0.75, 0, 0], p);
        var q = TransitionMath.RowNormalize([2, 0, 2, 0, 0, 0, 1, 1, 2], 3);
        Assert.Equal([0.5, 0, 0.5, 0, 0, 0, 0.25, 0.25, 0.5], q);
    }

    [Fact]
    public void Scaling_one_customer_gives_the_same_floats_as_scaling_the_shards_rows_and_centroids_come_back_in_original_units()
    {
        var rng = new Random(3);
        const int d = 11, n = 200;
        var raw = new double[n * d];
        for (var i = 0; i < raw.Length; i++)
        {
            raw[i] = Math.Round(rng.NextDouble() * 500, 2) * (i % d == 2 && rng.Next(9) == 0 ? -1 : 1);
        }
        var rows = new float[n * d];
        for (var i = 0; i < n; i++)
        {
            FeatureTransform.Forward(raw.AsSpan(i * d, d), rows.AsSpan(i * d, d));
        }
        var scaler = Scaler.Fit(rows, d);
        scaler.Transform(rows);

        var one = new float[d];
        for (var i = 0; i < n; i++)
        {
            Scaler.Scale(raw.AsSpan(i * d, d), scaler.Mean, scaler.Std, one);
            Assert.Equal(rows.AsSpan(i * d, d).ToArray(), one);
        }
        // A centroid at a customer's scaled row is that customer in original units (to float precision).
        var back = scaler.ToOriginalUnits(rows.AsSpan(7 * d, 2 * d), k: 2);
        for (var j = 0; j < d; j++)
        {
            Assert.Equal(raw[7 * d + j], back[0][j], Math.Max(1e-3, Math.Abs(raw[7 * d + j]) * 1e-5));
            Assert.Equal(raw[8 * d + j], back[1][j], Math.Max(1e-3, Math.Abs(raw[8 * d + j]) * 1e-5));
        }
    }
}
