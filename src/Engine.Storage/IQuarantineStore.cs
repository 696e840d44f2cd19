using Engine.Abstractions;

namespace Engine.Storage;

/// <summary>
/// An accepted event its customer could not apply, held aside with the error. The event stays in the ingest log (it
/// was acknowledged and is never lost); the customer has moved past it. <see cref="DiscardedAt"/> is set once an
/// operator discarded it: it stays listed for the record, and is never applied.
/// </summary>
public sealed record QuarantineRecord(LoggedEvent Event, string Error, DateTime QuarantinedAt, DateTime? DiscardedAt = null);

/// <summary>The quarantine: events customers could not apply, until an operator replays or discards them.</summary>
public interface IQuarantineStore
{
    /// <summary>Records events as quarantined; one already held (same log position) keeps its record, with the newer error.</summary>
    Task AddAsync(IReadOnlyList<QuarantineRecord> events, CancellationToken ct = default);

    /// <summary>Up to <paramref name="limit"/> records after log position <paramref name="afterSeq"/>, in log order.</summary>
    Task<QuarantineRecord[]> ListAsync(bool includeDiscarded, long afterSeq, int limit, CancellationToken ct = default);

    /// <summary>The record of the event at log position <paramref name="seq"/>, or null.</summary>
    Task<QuarantineRecord?> GetAsync(long seq, CancellationToken ct = default);

    /// <summary>Replaces a record's error (a replay that failed again).</summary>
    Task SetErrorAsync(long seq, string error, CancellationToken ct = default);

    /// <summary>Marks a record discarded; false when there is no record, or it was discarded already.</summary>
    Task<bool> DiscardAsync(long seq, DateTime at, CancellationToken ct = default);

    /// <summary>Drops a record once its event is applied (a replay); false when there was none.</summary>
    Task<bool> RemoveAsync(long seq, CancellationToken ct = default);

    /// <summary>Records not discarded.</summary>
    Task<long> CountPendingAsync(CancellationToken ct = default);
}
