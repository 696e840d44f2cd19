using System.Diagnostics;
using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public sealed class RolloutTests
{
    private static readonly long T0 = Stopwatch.GetTimestamp();

    private static long At(TimeSpan after) => T0 + (long)(after.TotalSeconds * Stopwatch.Frequency);

    [Fact]
    public void A_rollout_is_reached_by_rows_under_its_model_and_asks_at_its_end_those_that_came_under_an_older_one()
    {
        var rollout = new RolloutTracker();
        rollout.Start(5, ["a", "b", "c"], T0);
        rollout.RowTaken("a", 5);   // the rollout (or a's own event) reached it
        rollout.RowTaken("b", 4);   // an older batch's row: still to reach
        rollout.RowTaken("d", 4);   // not named, came under the older model: late
        rollout.RowTaken("e", 0);   // no model yet: not the rollout's business
        rollout.RowTaken("f", 5);

        Assert.Equal(1, rollout.Reached);
        Assert.Equal(3, rollout.StillToReachCount(5));
        Assert.Equal(["b", "c"], rollout.StillToReach(["a", "b", "c", "f"], 5));
        Assert.Equal(["d"], rollout.TakeLate(5));
        Assert.Empty(rollout.TakeLate(5));
        // Another rollout's questions: nothing tracked for it, so every customer is still to reach.
        Assert.Equal(-1, rollout.StillToReachCount(6));
        Assert.Equal(["a", "b"], rollout.StillToReach(["a", "b"], 6));
    }

    [Fact]
    public void The_sweep_leaves_the_rollouts_customers_to_it_until_it_ends_or_stalls()
    {
        var rollout = new RolloutTracker();
        rollout.Start(2, ["a", "b"], T0);
        Assert.True(rollout.RollingOut(At(TimeSpan.FromMinutes(4))));
        Assert.True(rollout.Holds("a"));
        Assert.False(rollout.Holds("z"));

        // A call keeps it alive; five minutes without one and the sweep takes its customers back.
        rollout.Called(2, At(TimeSpan.FromMinutes(4)));
        Assert.True(rollout.RollingOut(At(TimeSpan.FromMinutes(8))));
        Assert.False(rollout.RollingOut(At(TimeSpan.FromMinutes(9.5))));
        Assert.False(rollout.Holds("a"));

        rollout.Start(3, ["c"], T0);
        rollout.End(2);   // another rollout's end changes nothing
        Assert.True(rollout.RollingOut(T0));
        rollout.End(3);
        Assert.False(rollout.RollingOut(T0));
        rollout.Start(4, ["d"], T0);
        rollout.RowTaken("d", 4);
        Assert.False(rollout.RollingOut(T0));   // everyone reached
    }

    [Fact]
    public void A_rollout_waits_while_ingest_reaches_its_customers_and_stops_when_ingest_is_idle_slowing_or_done()
    {
        RolloutSettle.Look L(int still, int reached, long rows) => new(still, reached, rows);
        // Ingest taking rows, none reached yet (batches in flight under the old model): wait.
        Assert.Equal((false, 0), RolloutSettle.After(L(1000, 0, 10), L(1000, 0, 50), 0));
        // Reaching fast (more than 1 in 50 of those left): wait.
        Assert.Equal((false, 0), RolloutSettle.After(L(1000, 100, 50), L(800, 300, 90), 0));
        // Reaching slowly: stop and ask.
        Assert.Equal((true, 0), RolloutSettle.After(L(1000, 100, 50), L(995, 105, 90), 0));
        // One quiet look is not idle; two in a row are.
        Assert.Equal((false, 1), RolloutSettle.After(L(1000, 0, 50), L(1000, 0, 50), 0));
        Assert.Equal((true, 2), RolloutSettle.After(L(1000, 0, 50), L(1000, 0, 50), 1));
        // Everyone reached.
        Assert.Equal((true, 0), RolloutSettle.After(L(10, 90, 50), L(0, 100, 60), 0));
    }
}
