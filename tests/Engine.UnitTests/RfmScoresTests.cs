using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public sealed class RfmScoresTests
{
    /// <summary>The definition read literally: the smallest v of the values such that count(x ≤ v) ≥ q·n, with q = k/5.</summary>
    private static float Quantile(float[] values, int k) =>
        values.Where(v => values.Count(x => x <= v) * 5L >= (long)k * values.Length).Min();

    [Fact]
    public void Cut_points_are_the_smallest_values_with_at_least_the_share_at_or_below_them()
    {
        Assert.Equal([2f, 4f, 6f, 8f], RfmScores.CutPoints([.. Enumerable.Range(1, 10).Select(i => (float)(11 - i))]));
        // n = 7: ⌈1.4⌉ = 2nd, ⌈2.8⌉ = 3rd, ⌈4.2⌉ = 5th, ⌈5.6⌉ = 6th smallest.
        Assert.Equal([2f, 3f, 5f, 6f], RfmScores.CutPoints([7, 6, 5, 4, 3, 2, 1]));
        Assert.Empty(RfmScores.CutPoints([]));
        Assert.Equal([4f, 4f, 4f, 4f], RfmScores.CutPoints([4]));

        var rng = new Random(5);
        for (var round = 0; round < 200; round++)
        {
            // Few distinct values: ties at the cut points are the case the definition has to get right.
            var values = Enumerable.Range(0, rng.Next(1, 60)).Select(_ => (float)rng.Next(0, 8) * 1.5f).ToArray();
            var expected = Enumerable.Range(1, 4).Select(k => Quantile(values, k)).ToArray();
            Assert.Equal(expected, RfmScores.CutPoints([.. values]));
        }
    }

    [Fact]
    public void Scores_count_the_cut_points_passed_strictly()
    {
        float[] cuts = [2, 4, 6, 8];
        Assert.Equal(1, RfmScores.Score(0, cuts));
        Assert.Equal(1, RfmScores.Score(2, cuts));
        Assert.Equal(2, RfmScores.Score(2.5, cuts));
        Assert.Equal(4, RfmScores.Score(8, cuts));
        Assert.Equal(5, RfmScores.Score(8.01, cuts));
        // Recency: recent is good, so the score counts the cut points it is below.
        Assert.Equal(5, RfmScores.RecencyScore(0, cuts));
        Assert.Equal(4, RfmScores.RecencyScore(2, cuts));
        Assert.Equal(1, RfmScores.RecencyScore(8, cuts));
        Assert.Equal(2, RfmScores.RecencyScore(7.99, cuts));
    }

    [Fact]
    public void A_value_equal_to_its_cut_point_in_single_precision_is_not_above_it()
    {
        // 123.45 is no float: the cut point holds the float nearest it, and the customer's double must compare equal.
        var cuts = RfmScores.CutPoints([123.45f, 10f, 500f, 1000f, 2000f]);
        Assert.Equal(123.45f, cuts[1]);
        Assert.Equal(2, RfmScores.Score(123.45, cuts));
        Assert.Equal(3, RfmScores.RecencyScore(123.45, cuts));
    }

    [Fact]
    public void Every_cell_of_the_grid_has_the_name_the_rules_give_it()
    {
        // Rows R = 5 … 1, columns F = 1 … 5, as written in the rules.
        string[][] grid =
        [
            ["New", "Potential loyalist", "Potential loyalist", "Champions", "Champions"],
            ["Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Loyal"],
            ["About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"],
            ["Hibernating", "Hibernating", "At risk", "At risk", "Can't lose them"],
            ["Hibernating", "Hibernating", "At risk", "At risk", "Can't lose them"],
        ];
        for (var r = 1; r <= 5; r++)
        {
            for (var f = 1; f <= 5; f++)
            {
                var segment = RfmScores.SegmentOf(r, f);
                Assert.Equal(grid[5 - r][f - 1], segment.Name);
                Assert.StartsWith(RfmScores.IdPrefix, segment.Id);
                Assert.Same(segment, RfmScores.Find(segment.Id));
            }
        }
        Assert.Equal(10, RfmScores.Segments.Select(s => s.Id).Distinct().Count());
        Assert.Throws<ArgumentOutOfRangeException>(() => RfmScores.SegmentOf(0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => RfmScores.SegmentOf(3, 6));
    }

    [Theory]
    // Cut points 10, 30, 60, 120 days: R = 5 below 10 days, 4 below 30, 3 below 60, 2 below 120, then 1.
    [InlineData(5.0, 4, 10f)]    // Champions (5-4) → Loyal (4-4) at 10 days
    [InlineData(5.0, 2, 30f)]    // Potential loyalist stays so at R 4; About to sleep (3-2) at 30 days
    [InlineData(10.0, 2, 30f)]   // at a cut point R already fell (10 is not below 10): the next change is at 30
    [InlineData(40.0, 4, 60f)]   // Loyal (3-4) → At risk (2-4) at 60 days
    [InlineData(70.0, 4, null)]  // At risk stays At risk at R 1
    [InlineData(200.0, 1, null)] // R is 1: time changes nothing
    [InlineData(5.0, 1, 10f)]    // New (5-1) → Promising (4-1) at 10 days
    public void The_next_change_by_time_is_at_the_first_cut_point_whose_cell_has_another_name(double recency, int f, float? expected)
    {
        Assert.Equal(expected, RfmScores.RecencyOfNextSegmentChange(recency, f, [10f, 30f, 60f, 120f]));
    }

    [Fact]
    public void Equal_cut_points_are_crossed_together()
    {
        // R goes 5 → 3 at once at 30 days: Champions (5-5) → Loyal (3-5), though R 4 alone would also say Loyal.
        Assert.Equal(30f, RfmScores.RecencyOfNextSegmentChange(1, 5, [30f, 30f, 90f, 200f]));
        Assert.Equal(RfmScores.Loyal, RfmScores.SegmentOf(RfmScores.RecencyScore(30, [30f, 30f, 90f, 200f]), 5));
    }

    [Fact]
    public void A_move_has_the_kind_of_the_segment_it_goes_to_and_filters_without_kinds_ask_for_learned_moves()
    {
        Assert.Equal(SegmentKind.Rfm, SegmentKinds.Of(RfmScores.AtRisk.Id));
        Assert.Equal(SegmentKind.Learned, SegmentKinds.Of("seg-3"));
        Assert.Equal(SegmentKind.Learned, SegmentKinds.Of(Unassigned.SegmentId));
        Assert.Equal([SegmentKind.Learned], SegmentKinds.Requested([]));
        Assert.Equal([SegmentKind.Learned], SegmentKinds.Requested([SegmentKind.Unspecified]));
        Assert.Equal([SegmentKind.Learned, SegmentKind.Rfm], SegmentKinds.Requested([SegmentKind.Rfm, SegmentKind.Learned]).Order());
    }
}
