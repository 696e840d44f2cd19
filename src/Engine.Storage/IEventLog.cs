using Engine.Abstractions;

namespace Engine.Storage;

/// <summary>An event validated at the edge, waiting to be appended to the ingest log.</summary>
public sealed record PendingEvent(
    string EventId, string CustomerId, int Kind, DateTime OccurredAt, double Amount, string? Category, string? AttributesJson);

/// <summary>The end of the ingest log; the times are null on an empty log.</summary>
public readonly record struct LogHead(long MaxSeq, DateTime? MaxOccurredAt, DateTime? MaxAsOf);

/// <summary>A count of moves from one segment to another ("" = first assignment).</summary>
public readonly record struct TransitionCount(string From, string To, long Count);

/// <summary>
/// The durable logs Engine is built on. The ingest log is the source of truth for events: an event is acknowledged
/// once <see cref="AppendAsync"/> has committed it. The transition log records every segment change once.
/// </summary>
public interface IEventLog
{
    /// <summary>
    /// Appends events in one transaction. Returns, per event, its log position, or 0 when its event_id was already
    /// in the log (a duplicate, including a repeat inside the same batch).
    /// </summary>
    Task<long[]> AppendAsync(IReadOnlyList<PendingEvent> events, DateTime asOf, CancellationToken ct = default);

    /// <summary>A customer's events after log position <paramref name="afterSeq"/>, in log order.</summary>
    Task<LoggedEvent[]> ReadCustomerTailAsync(string customerId, long afterSeq, CancellationToken ct = default);

    /// <summary>Customers with events after <paramref name="afterSeq"/> (for crash recovery).</summary>
    Task<string[]> CustomersAfterAsync(long afterSeq, CancellationToken ct = default);

    /// <summary>The end of the log: highest position, latest occurred_at (the event-time watermark) and latest batch as_of.</summary>
    Task<LogHead> GetHeadAsync(CancellationToken ct = default);

    /// <summary>Writes transitions; ones already written (same customer and number) are ignored.</summary>
    Task AppendTransitionsAsync(IReadOnlyList<TransitionRecord> transitions, CancellationToken ct = default);

    /// <summary>Moves grouped by (from, to) with <c>at</c> in [from, to).</summary>
    Task<TransitionCount[]> CountTransitionsAsync(DateTime? from, DateTime? to, CancellationToken ct = default);

    /// <summary>A small durable number, e.g. the log position covered by the last shard checkpoint.</summary>
    Task<long> GetMetaAsync(string key, CancellationToken ct = default);

    Task SetMetaAsync(string key, long value, CancellationToken ct = default);
}
