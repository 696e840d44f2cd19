using Engine.Abstractions;
using Engine.Grains;

namespace Engine.Tests;

public class InactivityScheduleTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(1);

    private static readonly ModelSnapshot Model = new(2, K: 2, D: ShardMatrix.D,
        Centroids: [.. new float[ShardMatrix.D], .. Enumerable.Repeat(1f, ShardMatrix.D)],
        ScalerMean: new double[ShardMatrix.D], ScalerStd: Enumerable.Repeat(1.0, ShardMatrix.D).ToArray(),
        SegmentIds: ["a", "b"], Names: ["A", "B"], TrainedAt: T0, Customers: 1, Inertia: 0, Iterations: 1, Reason: "test");

    /// <summary>A row still in a segment of the previous model: the retrain's rollout has not reached its customer.</summary>
    private static ShardMatrix RowFromThePreviousModel()
    {
        var rows = new ShardMatrix();
        rows.Upsert(new ShardRow("c1", new float[ShardMatrix.D], T0, "old-segment", null, 1));
        return rows;
    }

    [Fact]
    public void A_row_the_model_does_not_know_is_due_at_once()
    {
        var rows = RowFromThePreviousModel();
        var schedule = new InactivitySchedule(rows, Step);
        schedule.Rebuild(Model);

        Assert.Equal([(0, T0)], schedule.TakeDue(Model, T0));
    }

    [Fact]
    public void After_a_retrain_the_sweep_leaves_the_rows_to_the_rollout_for_one_step()
    {
        var rows = RowFromThePreviousModel();
        var schedule = new InactivitySchedule(rows, Step);
        schedule.Rebuild(Model, notBefore: T0 + Step);

        Assert.Empty(schedule.TakeDue(Model, T0));
        Assert.Empty(schedule.TakeDue(Model, T0 + Step - TimeSpan.FromTicks(1)));
        // A rollout cut short: the sweep is the safety net one step later.
        Assert.Equal([(0, T0 + Step)], schedule.TakeDue(Model, T0 + Step));
    }
}
