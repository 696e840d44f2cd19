using CsCheck;
using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public sealed class TransitionAnalyticsTests
{
    [Fact]
    public void Forecast_reproduces_matrix_powers()
    {
        // A known 3-state chain.
        double[] p = [0.8, 0.15, 0.05, 0.1, 0.7, 0.2, 0.0, 0.3, 0.7];
        double[] sizes = [1000, 500, 250];
        var steps = MarkovForecast.Project(sizes, p, 3, 12);
        var expected = sizes;
        for (var t = 0; t < 12; t++)
        {
            var next = new double[3];
            for (var j = 0; j < 3; j++)
            {
                for (var i = 0; i < 3; i++)
                {
                    next[j] += expected[i] * p[i * 3 + j];
                }
            }
            expected = next;
            for (var j = 0; j < 3; j++)
            {
                Assert.Equal(expected[j], steps[t][j], 1e-9);
            }
        }
        // Mass is conserved.
        Assert.Equal(1750, steps[^1].Sum(), 1e-9);
    }

    [Fact]
    public void Per_period_matrix_from_moves_and_sizes_is_row_stochastic()
    {
        // 100 customers in state 0; 20 moved 0→1 over 2 periods: 10 a period, p(0→1) = 0.1.
        var p = MarkovForecast.PerPeriodMatrix([0, 20, 0, 0], [100, 0], 2, periods: 2);
        Assert.Equal([0.9, 0.1, 0, 1], p);
    }

    [Fact]
    public void Drivers_add_up_to_the_difference_in_squared_distance()
    {
        float[] x = [1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0];
        float[] old = [3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        float[] @new = [1, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0];
        var all = Explanation.Drivers(x, old, @new, top: 11);
        var d2Old = x.Zip(old, (a, b) => (double)(a - b) * (a - b)).Sum();
        var d2New = x.Zip(@new, (a, b) => (double)(a - b) * (a - b)).Sum();
        // Only the positive terms are drivers; here the negative one is frequency (1 vs 2 against x = 2).
        Assert.Equal(d2Old - d2New, all.Sum(c => c.Contribution) - 1, 1e-9);
        Assert.Equal(FeatureNames.Monetary, all[0].Feature);
        Assert.Equal(9, all[0].Contribution, 1e-9);
        Assert.Equal(2, Explanation.Drivers(x, old, @new, top: 2).Length);
    }

    [Fact]
    public void Drivers_are_the_largest_positive_terms_largest_first_ties_in_feature_order()
    {
        // Small integers make ties common; NaN and infinities come in too.
        var value = Gen.Frequency((8, Gen.Int[-3, 3].Select(v => (float)v)), (1, Gen.OneOf(float.NaN, float.PositiveInfinity, float.NegativeInfinity)));
        var d = FeatureNames.All.Length;
        Gen.Select(value.Array[d], value.Array[d], value.Array[d], Gen.Int[0, d + 1]).Sample(sample =>
        {
            var (x, old, @new, top) = sample;
            var expected = Enumerable.Range(0, d)
                .Select(j => new FeatureContribution(FeatureNames.All[j], ((double)x[j] - old[j]) * ((double)x[j] - old[j]) - ((double)x[j] - @new[j]) * ((double)x[j] - @new[j])))
                .OrderByDescending(c => c.Contribution).Take(top).Where(c => c.Contribution > 0).ToArray();
            Assert.Equal(expected, Explanation.Drivers(x, old, @new, top));
        });
    }

    [Fact]
    public void Drivers_are_stored_as_the_serializer_writes_them_and_read_back_whole()
    {
        var feature = Gen.OneOf(FeatureNames.All.Select(Gen.Const).ToArray());
        var contribution = Gen.Frequency((4, Gen.Double[0, 100]), (1, Gen.Double.Where(double.IsFinite)), (1, Gen.OneOf(0.0, -0.0, 1e-320, double.MaxValue)));
        Gen.Select(feature, contribution).Select((f, c) => new Engine.Abstractions.Driver(f, c)).Array[1, 4].Sample(drivers =>
        {
            var json = Engine.Storage.Drivers.ToJson(drivers);
            Assert.Equal(System.Text.Json.JsonSerializer.Serialize(drivers.Select(d => new { f = d.Feature, c = d.Contribution })), json);
            Assert.Equal(drivers, Engine.Storage.Drivers.FromJson(json));
        });
        Assert.Null(Engine.Storage.Drivers.ToJson([]));
        Assert.Throws<ArgumentException>(() => Engine.Storage.Drivers.ToJson([new("recency_days", double.NaN)]));
        Assert.Equal("[{\"f\":\"a\",\"c\":1}]", Engine.Storage.Drivers.ToJson([new("a", 1)]));
    }

    [Fact]
    public void NextWindowChange_is_the_day_a_bucket_leaves_its_window()
    {
        var t0 = new DateTime(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var p = new CustomerProfile();
        p.Apply(EventKind.Session, t0.AddDays(10), 0, null);
        p.Apply(EventKind.Purchase, t0.AddDays(20), 5, null);
        Assert.Equal(t0.AddDays(40), p.NextWindowChange(t0.AddDays(25)));   // the session leaves the 30-day window
        Assert.Equal(t0.AddDays(110), p.NextWindowChange(t0.AddDays(40)));  // then the purchase leaves the 90-day one
        Assert.Null(p.NextWindowChange(t0.AddDays(110)));
        // Checked against the features themselves: the day before, the purchase counts; on the day, it no longer does.
        var raw = new double[FeatureNames.Count];
        p.ComputeFeatures(t0.AddDays(109), raw);
        Assert.Equal(1, raw[FeatureNames.IndexOf(FeatureNames.Purchases90d)]);
        p.ComputeFeatures(t0.AddDays(110), raw);
        Assert.Equal(0, raw[FeatureNames.IndexOf(FeatureNames.Purchases90d)]);
    }

    [Fact]
    public void A_matrix_has_the_current_segments_then_retired_ones_and_counts_first_assignments_apart()
    {
        const string u = Unassigned.SegmentId;
        (string, string, long)[] moves = [(u, "seg-2", 5), ("seg-1", "seg-2", 3), ("seg-9", "seg-1", 2), ("seg-2", "seg-2", 1), (u, "seg-9", 4)];
        var (ids, counts, entries) = TransitionMath.Matrix(moves, ["seg-2", "seg-1"]);
        Assert.Equal(["seg-2", "seg-1", "seg-9"], ids);
        // Row-major from × to over [seg-2, seg-1, seg-9].
        Assert.Equal([1L, 0, 0, 3, 0, 0, 0, 2, 0], counts);
        Assert.Equal([5L, 0, 4], entries);
        // A forecast looks only at moves between the current segments.
        Assert.Equal([1L, 0, 3, 0], TransitionMath.MovesBetween(moves, ["seg-2", "seg-1"]));
    }
}
