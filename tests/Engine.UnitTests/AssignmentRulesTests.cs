using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public sealed class AssignmentRulesTests
{
    private static readonly DateTime T = new(1997, 6, 1, 0, 0, 0, DateTimeKind.Utc);

    [Theory]
    [InlineData(3, 5, 3)]                          // stamped: its own model
    [InlineData(AssignmentRules.Unstamped, 5, 5)]  // logged before stamps: the current model
    [InlineData(0, 5, 0)]                          // logged before any model
    public void An_event_counts_as_logged_under_its_stamp_or_else_the_current_model(long logged, long current, long expected) =>
        Assert.Equal(expected, AssignmentRules.StampOf(logged, current));

    [Theory]
    [InlineData(4, 2, 4)]   // a batch logged under a newer model is assigned under it
    [InlineData(2, 4, 4)]   // the customer already holds a newer one (a retrain reached it first): never back
    [InlineData(3, 3, 3)]
    public void A_batch_is_assigned_under_the_newer_of_its_stamp_and_the_customers_model(long stamp, long customer, long expected) =>
        Assert.Equal(expected, AssignmentRules.ModelFor(stamp, customer));

    [Fact]
    public void Only_a_batch_under_a_newer_model_of_a_customer_with_events_first_adopts_it_as_a_retrain()
    {
        Assert.True(AssignmentRules.AdoptsNewerModel(2, 1, hasEvents: true));
        Assert.False(AssignmentRules.AdoptsNewerModel(2, 1, hasEvents: false));
        Assert.False(AssignmentRules.AdoptsNewerModel(2, 2, hasEvents: true));
        Assert.False(AssignmentRules.AdoptsNewerModel(1, 2, hasEvents: true));
    }

    [Fact]
    public void A_move_is_dated_after_the_assignment_before_it_and_an_event_may_share_its_adoptions_time()
    {
        // Later: its own time.
        Assert.Equal(T.AddDays(1), AssignmentRules.AssignedAt(T.AddDays(1), T, moves: true, byEvent: false));
        // At or before the last: a move goes one tick after it; no move keeps it.
        Assert.Equal(T.AddTicks(1), AssignmentRules.AssignedAt(T, T, moves: true, byEvent: false));
        Assert.Equal(T.AddTicks(1), AssignmentRules.AssignedAt(T.AddDays(-3), T, moves: true, byEvent: false));
        Assert.Equal(T, AssignmentRules.AssignedAt(T.AddDays(-3), T, moves: false, byEvent: false));
        // An event's move at the same time as the adoption before it keeps that time.
        Assert.Equal(T, AssignmentRules.AssignedAt(T, T, moves: true, byEvent: true));
        // The first assignment ever has nothing to be after.
        Assert.Equal(DateTime.MinValue, AssignmentRules.AssignedAt(DateTime.MinValue, DateTime.MinValue, moves: true, byEvent: false));
    }

    [Fact]
    public void A_reassignment_is_dated_by_the_applied_clock_but_never_before_the_customers_own_last_assignment()
    {
        Assert.Equal(T.AddDays(2), AssignmentRules.ReassignAt(T.AddDays(2), T));
        Assert.Equal(T, AssignmentRules.ReassignAt(T.AddDays(-2), T));
    }
}
