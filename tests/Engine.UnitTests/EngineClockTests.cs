using Engine.Grains;
using Microsoft.Extensions.Options;

namespace Engine.UnitTests;

/// <summary>
/// A retrain's reassignment is dated by the latest applied batch in event time: the watermark moves when a batch is
/// committed, a few batches before they are applied, and at import speed that is weeks of event time.
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
        clock.Observe(T);
        Assert.Equal(T, clock.AppliedNow);  // nothing applied yet (a fresh start has recovered everything): the watermark

        clock.Applied(T);
        clock.Observe(T.AddDays(20));
        Assert.Equal(T, clock.AppliedNow);
        clock.Applied(T.AddDays(12));
        clock.Applied(T.AddDays(5));
        Assert.Equal(T.AddDays(12), clock.AppliedNow);

        // Applied through the watermark (a batch's time can be a few ticks past it): the watermark.
        clock.Applied(T.AddDays(20).AddTicks(2));
        Assert.Equal(T.AddDays(20), clock.AppliedNow);
    }

    [Fact]
    public void On_the_wall_clock_applied_now_is_now()
    {
        var clock = Clock(ClockMode.Wall);
        clock.Applied(T);
        Assert.True(clock.AppliedNow > T.AddYears(20));
    }
}
