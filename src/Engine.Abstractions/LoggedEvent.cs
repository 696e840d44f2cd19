namespace Engine.Abstractions;

/// <summary>
/// An event as it sits in the durable ingest log. <see cref="Seq"/> is the log position; <see cref="AsOf"/> is the
/// engine clock when it was ingested, so a replay after a crash computes exactly what the live path computed.
/// <see cref="Kind"/> carries the numeric value of <c>Engine.Core.EventKind</c>.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.LoggedEvent")]
public sealed record LoggedEvent(
    [property: Id(0)] long Seq,
    [property: Id(1)] string EventId,
    [property: Id(2)] string CustomerId,
    [property: Id(3)] int Kind,
    [property: Id(4)] DateTime OccurredAt,
    [property: Id(5)] double Amount,
    [property: Id(6)] string? Category,
    [property: Id(7)] DateTime AsOf);
