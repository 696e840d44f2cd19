using Engine.Core;
namespace Engine.Abstractions;

/// <summary>
/// An event as it sits in the durable ingest log. <see cref="LogPosition"/> is the log position; <see cref="AsOf"/> is the
/// engine clock when it was ingested and <see cref="ModelVersion"/> the model the appending silo had (0: none yet), so a
/// replay after a crash computes exactly what the live path computed, whatever model is current by then.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.LoggedEvent")]
public sealed record LoggedEvent(
    [property: Id(0)] long LogPosition,
    [property: Id(1)] string EventId,
    [property: Id(2)] string CustomerId,
    [property: Id(3)] EventKind Kind,
    [property: Id(4)] DateTime OccurredAt,
    [property: Id(5)] double Amount,
    [property: Id(6)] string? Category,
    [property: Id(7)] DateTime AsOf,
    [property: Id(8)] long ModelVersion)
{
    /// <summary>The <see cref="ModelVersion"/> of an event logged before events carried one: a replay uses the current model.</summary>
    public const long Unstamped = AssignmentRules.Unstamped;
}

/// <summary>
/// Logged events for one customer, in log order, with the caller's promise: every event of this customer in
/// (<see cref="CompleteAfter"/>, <see cref="Through"/>] is in <see cref="Events"/> or was delivered before.
/// One immutable argument, because it is ingest's hottest call: Orleans passes it by reference, where a plain array
/// made every new grain reference build an array copier by reflection and every call copy the array, and plain
/// numbers were boxed on each side of the call.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.Delivery")]
public sealed record Delivery(
    [property: Id(0)] LoggedEvent[] Events,
    [property: Id(1)] long CompleteAfter,
    [property: Id(2)] long Through);
