using CsCheck;
using Engine.Core;

namespace Engine.UnitTests;

/// <summary>
/// <see cref="AgingBound"/>: never later than the moment aging can move a customer to another centroid (checked against
/// the nearest centroid itself at random times, on random models), close below it when aging does cross, and the whole
/// horizon when the boundary runs along the aging axes.
/// </summary>
[Trait("Category", "Unit")]
public sealed class AgingBoundTests
{
    private static readonly int D = FeatureNames.Count;
    private static readonly int Recency = FeatureNames.IndexOf(FeatureNames.RecencyDays);
    private static readonly int Tenure = FeatureNames.IndexOf(FeatureNames.TenureDays);
    private const double Minimum = 1.0 / 1440;
    private const double Horizon = 36_500;

    private static float[] Scale(double[] raw, double[] mean, double[] std)
    {
        var x = new float[D];
        Scaler.Scale(raw, mean, std, x);
        return x;
    }

    private static double[] Aged(double[] raw, double days)
    {
        var aged = (double[])raw.Clone();
        aged[Recency] += days;
        aged[Tenure] += days;
        return aged;
    }

    [Fact]
    public void A_customer_stays_nearest_to_its_own_centroid_for_the_days_the_bound_gives()
    {
        var gen = Gen.Select(Gen.Int[2, 6], Gen.Int[0, int.MaxValue], Gen.Double[0, 400], Gen.Double[0, 400]);
        gen.Sample((k, seed, recency, extraTenure) =>
        {
            var rng = new Random(seed);
            var centroids = Enumerable.Range(0, k * D).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            var mean = Enumerable.Range(0, D).Select(_ => rng.NextDouble() * 4).ToArray();
            var std = Enumerable.Range(0, D).Select(_ => 0.3 + rng.NextDouble() * 3).ToArray();
            var raw = Enumerable.Range(0, D).Select(_ => rng.NextDouble() * 50).ToArray();
            (raw[Recency], raw[Tenure]) = (recency, recency + extraTenure);
            var own = KMeansMath.FindNearest(Scale(raw, mean, std), centroids, k).Index;

            var days = AgingBound.SafeDays(Scale(raw, mean, std), centroids, k, own, raw[Recency], raw[Tenure], mean, std, Minimum, Horizon);

            Assert.InRange(days, Minimum, Horizon);
            for (var n = 0; n < 200; n++)
            {
                var t = rng.NextDouble() * Math.Min(days, 5_000);
                var x = Scale(Aged(raw, t), mean, std);
                var nearest = KMeansMath.FindNearest(x, centroids, k);
                var ownDistance = System.Numerics.Tensors.TensorPrimitives.Distance(x, centroids.AsSpan(own * D, D));
                // A tie within float rounding is no crossing.
                Assert.True(nearest.Index == own || ownDistance - nearest.Distance < 1e-4, $"left centroid {own} for {nearest.Index} after {t} of {days} days");
            }
        }, iter: 300);
    }

    [Fact]
    public void Where_aging_crosses_the_bound_ends_just_before_the_crossing()
    {
        // Two segments that differ in recency alone, at scaled recency 0 and 2: the customer crosses at scaled 1.
        var (mean, std) = (new double[D], Enumerable.Repeat(1.0, D).ToArray());
        var centroids = new float[2 * D];
        centroids[D + Recency] = 2;
        var raw = new double[D];
        (raw[Recency], raw[Tenure]) = (0.5, 10);
        var crossing = Math.Exp(1) - 1 - raw[Recency];

        var days = AgingBound.SafeDays(Scale(raw, mean, std), centroids, 2, 0, raw[Recency], raw[Tenure], mean, std, Minimum, Horizon);

        Assert.InRange(days, crossing - Math.Max(Minimum, crossing / 16) - 1e-9, crossing);
    }

    [Fact]
    public void A_boundary_along_the_aging_axes_is_never_crossed_by_aging_however_close()
    {
        // Two segments that differ in monetary alone; the customer sits a hair inside its own.
        var monetary = FeatureNames.IndexOf(FeatureNames.Monetary);
        var (mean, std) = (new double[D], Enumerable.Repeat(1.0, D).ToArray());
        var centroids = new float[2 * D];
        centroids[D + monetary] = 2;
        var raw = new double[D];
        (raw[Recency], raw[Tenure], raw[monetary]) = (1, 30, Math.Exp(0.999) - 1);

        Assert.Equal(Horizon, AgingBound.SafeDays(Scale(raw, mean, std), centroids, 2, 0, raw[Recency], raw[Tenure], mean, std, Minimum, Horizon));
        // Already nearer the other: look now.
        raw[monetary] = Math.Exp(1.001) - 1;
        Assert.Equal(0, AgingBound.SafeDays(Scale(raw, mean, std), centroids, 2, 0, raw[Recency], raw[Tenure], mean, std, Minimum, Horizon));
    }
}
