using Engine.Abstractions;
using Engine.Core;
using Engine.Grains;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public class InactivityScheduleTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>Segment s1 at the origin, s2 at one in every scaled feature; an all-zero customer starts in s1 and ages into s2.</summary>
    private static readonly ModelSnapshot Model = new(1, 2, FeatureNames.Count,
        [.. new float[FeatureNames.Count], .. Enumerable.Repeat(1f, FeatureNames.Count)], new double[FeatureNames.Count],
        Enumerable.Repeat(1.0, FeatureNames.Count).ToArray(), ["s1", "s2"], ["One", "Two"], T0, 2, 0, 1, "test");

    private static ShardRow Row(string id, double minutes) =>
        new(id, new float[ShardMatrix.D], T0.AddMinutes(minutes), "s1", null, 1);

    [Fact]
    public void A_row_rescheduled_by_every_event_keeps_the_queue_bounded_and_comes_due_once()
    {
        var rows = new ShardMatrix();
        rows.Upsert(Row("busy", 0));
        rows.Upsert(Row("quiet", 0));
        var schedule = new InactivitySchedule(rows, TimeSpan.FromHours(1));
        schedule.Rebuild(Model);

        // Ingest reschedules a row on every one of its events; each schedule supersedes the one before.
        for (var n = 1; n <= 5_000; n++)
        {
            var i = rows.UpsertAndIndex(Row("busy", n));
            schedule.Schedule(i, Model, rows.AsOfAt(i));
        }

        Assert.InRange(schedule.Queued, 2, 2 * rows.Count + 1024);
        // A year on, both have aged into s2: each comes due once, the busy one from its latest schedule.
        var due = schedule.TakeDue(Model, T0.AddDays(365));
        Assert.Equal(["busy", "quiet"], due.Select(d => rows.IdAt(d.Row)).Order());
        Assert.True(due.Single(d => rows.IdAt(d.Row) == "busy").At > T0.AddMinutes(5_000));
    }
}
