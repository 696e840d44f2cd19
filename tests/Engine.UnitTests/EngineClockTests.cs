using Engine.Grains;
using Microsoft.Extensions.Options;

namespace Engine.UnitTests;

/// <summary>
/// A retrain's reassignment is dated by the latest applied batch in event time: the watermark moves when a batch is
/// committed, a few batches before they are applied, and at import speed that is weeks of event time. In a cluster,
/// no later than the earliest time through which another silo has applied its batches.
/// </summary>
[Trait("Category", "Unit")]
public sealed class EngineClockTests
{
    private static readonly DateTime T = new(1997, 3, 1, 0, 0, 0, DateTimeKind.Utc);

    private static EngineClock Clock(ClockMode mode) => new(Options.Create(new EngineOptions { Clock = mode }), TimeProvider.System);

    [Fact]
    public void In_event_time_applied_now_is_the_latest_applied_batch_when_the_watermark_is_ahead_of_it()
    {
        var clock = Clock(ClockMode.EventTime);
        var inFlight = true;
        clock.TrackInFlight(() => inFlight);
        clock.Observe(T);
        Assert.Equal(DateTime.UnixEpoch, clock.AppliedNow);  // a batch in flight and none applied since an empty start

        clock.Applied(T);
        clock.Observe(T.AddDays(20));
        Assert.Equal(T, clock.AppliedNow);
        clock.Applied(T.AddDays(12));
        clock.Applied(T.AddDays(5));
        Assert.Equal(T.AddDays(12), clock.AppliedNow);

        // Applied through the watermark (a batch's time can be a few ticks past it): the watermark.
        clock.Applied(T.AddDays(20).AddTicks(2));
        Assert.Equal(T.AddDays(20), clock.AppliedNow);

        // Nothing in flight: everything committed is applied, and a later batch is dated at least the watermark.
        clock.Observe(T.AddDays(30));
        Assert.Equal(T.AddDays(20).AddTicks(2), clock.AppliedNow);
        inFlight = false;
        Assert.Equal(T.AddDays(30), clock.AppliedNow);
        Assert.Equal(T.AddDays(30), clock.OwnApplied(clock.Now));
    }

    [Fact]
    public void In_a_cluster_applied_now_waits_for_the_silo_that_has_applied_least()
    {
        var clock = Clock(ClockMode.EventTime);
        clock.TrackInFlight(() => false);
        clock.Observe(T.AddDays(30));
        clock.PeersApplied(T.AddDays(9));
        Assert.Equal(T.AddDays(9), clock.AppliedNow);
        Assert.Equal(T.AddDays(30), clock.OwnApplied(clock.Now));  // what this silo tells its peers is its own
        clock.PeersApplied(T.AddDays(40));
        Assert.Equal(T.AddDays(30), clock.AppliedNow);
        clock.PeersApplied(null);  // no other live silo
        Assert.Equal(T.AddDays(30), clock.AppliedNow);
    }

    [Fact]
    public void On_the_wall_clock_applied_now_is_now()
    {
        var clock = Clock(ClockMode.Wall);
        clock.Applied(T);
        Assert.True(clock.AppliedNow > T.AddYears(20));
    }
}
