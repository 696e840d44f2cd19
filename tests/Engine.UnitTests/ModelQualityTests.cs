using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public sealed class ModelQualityTests
{
    [Fact]
    public void Silhouette_is_high_for_separated_clusters_and_low_for_a_bad_split()
    {
        var rng = new Random(1);
        var rows = new List<float>();
        var labels = new List<int>();
        for (var i = 0; i < 200; i++)
        {
            var c = i % 2;
            rows.Add(c * 20 + (float)rng.NextDouble());
            rows.Add((float)rng.NextDouble());
            labels.Add(c);
        }
        Assert.True(Silhouette.Compute(rows.ToArray(), labels.ToArray(), 2, 2) > 0.9);
        // Labels that cut across the real clusters score near zero or below.
        var bad = labels.Select((_, i) => i % 4 < 2 ? 0 : 1).ToArray();
        Assert.True(Silhouette.Compute(rows.ToArray(), bad, 2, 2) < 0.1);
    }

    [Fact]
    public void Silhouette_matches_a_hand_computation()
    {
        // Points 0, 1 in cluster 0 and 4 in cluster 1 (one dimension).
        float[] rows = [0, 1, 4];
        int[] labels = [0, 0, 1];
        // s(0) = (4 − 1) / 4, s(1) = (3 − 1) / 3, s(4) = 0 (a singleton).
        Assert.Equal((0.75 + 2.0 / 3 + 0) / 3, Silhouette.Compute(rows, labels, 1, 2), 1e-6);
    }

    [Fact]
    public void Soft_membership_is_a_softmax_over_squared_distances()
    {
        float[] centroids = [0, 0, 3, 0, 0, 10];
        var m = SoftMembership.Of([1, 0], centroids, 3, temperature: 2);
        Assert.Equal((0, 1), (m.Index, m.SecondIndex));
        Assert.Equal(1, m.Distance, 1e-9);
        Assert.Equal(1, m.Margin, 1e-9);
        var weights = new[] { 1.0, 4.0, 101.0 }.Select(d2 => Math.Exp(-d2 / 2)).ToArray();
        Assert.Equal(weights[0] / weights.Sum(), m.Confidence, 1e-12);
    }

    [Fact]
    public void Psi_is_zero_for_the_same_distribution_and_grows_with_a_shift()
    {
        var rng = new Random(2);
        var baseline = Enumerable.Range(0, 20_000).Select(_ => rng.NextDouble()).ToArray();
        var edges = Psi.QuantileEdges(baseline, 10);
        Assert.Equal(9, edges.Length);
        long[] Histogram(IEnumerable<double> values)
        {
            var h = new long[edges.Length + 1];
            foreach (var v in values)
            {
                h[Psi.BinOf(edges, v)]++;
            }
            return h;
        }
        var q = Psi.Shares(Histogram(baseline));
        Assert.All(q, share => Assert.InRange(share, 0.09, 0.11));
        var same = Psi.Shares(Histogram(Enumerable.Range(0, 20_000).Select(_ => rng.NextDouble())));
        Assert.True(Psi.Compute(q, same) < 0.01);
        var shifted = Psi.Shares(Histogram(Enumerable.Range(0, 20_000).Select(_ => rng.NextDouble() + 0.3)));
        Assert.True(Psi.Compute(q, shifted) > 0.2);
        // Hand example: shares (0.5, 0.5) against (0.25, 0.75).
        Assert.Equal(-0.25 * Math.Log(0.5) + 0.25 * Math.Log(1.5), Psi.Compute([0.5, 0.5], [0.25, 0.75]), 1e-12);
    }
}
