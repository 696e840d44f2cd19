using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public sealed class KMeansTests
{
    private static (float[] Rows, float[][] Centres, int[] Labels) Blobs(int perBlob, int seed)
    {
        float[][] centres = [[0, 0, 0], [10, 10, 0], [-10, 5, 5], [5, -10, 10]];
        var rng = new Random(seed);
        var rows = new List<float>();
        var labels = new List<int>();
        for (var i = 0; i < perBlob * centres.Length; i++)
        {
            var c = i % centres.Length;
            foreach (var x in centres[c])
            {
                rows.Add(x + (float)(rng.NextDouble() - 0.5));
            }
            labels.Add(c);
        }
        return (rows.ToArray(), centres, labels.ToArray());
    }

    [Fact]
    public void Fit_recovers_known_centres_and_labels()
    {
        var (rows, centres, labels) = Blobs(500, 1);
        var result = KMeansMath.Fit(rows, 3, 4, 100, 1e-6, seed: 42);
        foreach (var centre in centres)
        {
            var nearest = KMeansMath.FindNearest(centre, result.Centroids, 4);
            Assert.True(nearest.Distance < 0.1, $"centre ({string.Join(", ", centre)}) is {nearest.Distance} from its centroid");
        }
        // Labels agree up to a permutation: every true blob maps to exactly one cluster.
        var mapping = labels.Zip(result.Assignments).GroupBy(p => p.First).Select(g => g.Select(p => p.Second).Distinct().Single()).ToArray();
        Assert.Equal(4, mapping.Distinct().Count());
        Assert.True(result.Inertia < rows.Length / 3 * 3 * (1 / 12.0) * 1.2);
    }

    [Fact]
    public void AccumulateAssign_on_a_hand_example()
    {
        float[] rows = [0, 0, 1, 0, 10, 10, 11, 10, 10, 12];
        float[] centroids = [0, 0, 10, 10];
        var sums = new double[4];
        var counts = new long[2];
        var assignments = new int[5];
        var inertia = KMeansMath.AccumulateAssign(rows, 2, centroids, 2, sums, counts, assignments);
        Assert.Equal([0, 0, 1, 1, 1], assignments);
        Assert.Equal([2L, 3L], counts);
        Assert.Equal([1, 0, 31, 32], sums);
        Assert.Equal(1 + 0 + 1 + 4, inertia, 1e-9);
    }

    [Fact]
    public void AccumulateAssign_handles_k_beyond_one_simd_width()
    {
        var rng = new Random(9);
        const int d = 5, k = 19, n = 400;
        var rows = Enumerable.Range(0, n * d).Select(_ => (float)rng.NextDouble()).ToArray();
        var centroids = Enumerable.Range(0, k * d).Select(_ => (float)rng.NextDouble()).ToArray();
        var assignments = new int[n];
        KMeansMath.AccumulateAssign(rows, d, centroids, k, new double[k * d], new long[k], assignments);
        for (var i = 0; i < n; i++)
        {
            Assert.Equal(KMeansMath.FindNearest(rows.AsSpan(i * d, d), centroids, k).Index, assignments[i]);
        }
    }

    [Fact]
    public void UpdateCentroids_keeps_an_empty_cluster_and_reports_the_shift()
    {
        float[] centroids = [0, 0, 5, 5];
        var shift = KMeansMath.UpdateCentroids([6, 8, 0, 0], [2, 0], centroids, 2, 2);
        Assert.Equal([3, 4, 5, 5], centroids);
        Assert.Equal(25, shift, 1e-6); // squared shift: 3² + 4²
    }

    [Fact]
    public void FindNearest_reports_the_runner_up()
    {
        var n = KMeansMath.FindNearest([1, 0], [0, 0, 4, 0, 1, 2], 3);
        Assert.Equal((0, 1f, 2, 2f), (n.Index, n.Distance, n.SecondIndex, n.SecondDistance));
    }

    [Fact]
    public void FindNearest_with_one_centroid_has_no_runner_up()
    {
        var n = KMeansMath.FindNearest([3, 4], [0, 0], 1);
        Assert.Equal((0, 5f, -1, float.PositiveInfinity), (n.Index, n.Distance, n.SecondIndex, n.SecondDistance));
    }

    [Fact]
    public void Partial_sums_over_blocks_add_up_to_one_pass()
    {
        // The distributed fit relies on this: shards accumulate their own rows and the coordinator adds.
        var (rows, _, _) = Blobs(100, 5);
        var centroids = KMeansMath.SeedPlusPlus(rows, 3, 4, [], new Random(3));
        var wholeSums = new double[12];
        var wholeCounts = new long[4];
        var whole = KMeansMath.AccumulateAssign(rows, 3, centroids, 4, wholeSums, wholeCounts, []);
        var sums = new double[12];
        var counts = new long[4];
        var split = 0.0;
        for (var offset = 0; offset < rows.Length; offset += 3 * 70)
        {
            var block = rows.AsSpan(offset, Math.Min(3 * 70, rows.Length - offset));
            split += KMeansMath.AccumulateAssign(block, 3, centroids, 4, sums, counts, []);
        }
        Assert.Equal(wholeCounts, counts);
        Assert.Equal(400, counts.Sum());
        for (var i = 0; i < sums.Length; i++)
        {
            Assert.Equal(wholeSums[i], sums[i], 1e-9);
        }
        Assert.Equal(whole, split, 1e-6);
    }

    [Fact]
    public void Fit_recovers_five_blobs_in_ten_dimensions()
    {
        const int d = 10, k = 5, perBlob = 300;
        var rng = new Random(17);
        var centres = Enumerable.Range(0, k).Select(_ => Enumerable.Range(0, d).Select(_ => (float)(rng.NextDouble() * 40 - 20)).ToArray()).ToArray();
        var rows = new float[perBlob * k * d];
        var labels = new int[perBlob * k];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = rng.Next(k);
            for (var j = 0; j < d; j++)
            {
                // Box–Muller: unit Gaussian noise around the centre.
                var g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                rows[i * d + j] = centres[labels[i]][j] + (float)g;
            }
        }
        var result = KMeansMath.Fit(rows, d, k, 100, 1e-6, seed: 7);
        Assert.Equal((k, d), (result.K, result.D));
        foreach (var centre in centres)
        {
            // The mean of ~300 unit-variance points is within ~0.06 per axis; 0.5 in 10-d Euclidean is generous.
            Assert.True(KMeansMath.FindNearest(centre, result.Centroids, k).Distance < 0.5);
        }
        var mapping = labels.Zip(result.Assignments).GroupBy(p => p.First).Select(g => g.Select(p => p.Second).Distinct().Single()).ToArray();
        Assert.Equal(k, mapping.Distinct().Count());
    }

    [Fact]
    public void Seeding_picks_k_distinct_points_from_the_sample()
    {
        var (rows, _, _) = Blobs(50, 2);
        var seeds = KMeansMath.SeedPlusPlus(rows, 3, 4, [], new Random(1));
        var picked = Enumerable.Range(0, 4).Select(c => string.Join(",", seeds.AsSpan(c * 3, 3).ToArray())).ToHashSet();
        Assert.Equal(4, picked.Count);
        // D² sampling lands one seed in each well-separated blob.
        var blobs = Enumerable.Range(0, 4).Select(c => Math.Round(seeds[c * 3] / 5.0)).ToHashSet();
        Assert.Equal(4, blobs.Count);
    }

    [Fact]
    public void Empty_clusters_move_to_the_rows_worst_explained_one_after_another()
    {
        // One-dimensional: centroids at 0 (holds rows), 100 and 200 (empty); rows at 1, 2, 10 and 9.
        float[] centroids = [0, 100, 200];
        float[] pool = [1, 2, 10, 9];
        KMeansMath.ReseedEmpty(centroids, [4, 0, 0], pool, d: 1, k: 3);
        // The kept centroid stays. The farthest row from {0, 100, 200} is 10; then, with 10 taken, the farthest from
        // {0, 10, 200} is 2 (9 is 1 from 10), not 10 again.
        Assert.Equal([0f, 10, 2], centroids);
    }
}
