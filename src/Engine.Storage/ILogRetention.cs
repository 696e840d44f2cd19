namespace Engine.Storage;

/// <summary>Ingest-log rows that retention may delete once their customers' checkpoints cover them.</summary>
public sealed record RetentionBatch(long[] Seqs, string[] Customers);

/// <summary>
/// Deleting old log rows (Engine:IngestLogRetention, Engine:TransitionLogRetention). The rules of what may go are the
/// caller's (LogRetention in Engine.Grains); these only find and delete, in small batches, so ingest never waits long.
/// </summary>
public interface ILogRetention
{
    /// <summary>
    /// The oldest ingest rows below position <paramref name="belowSeq"/> stored (as_of) before <paramref name="storedBefore"/>,
    /// in log order, up to <paramref name="limit"/>, leaving out quarantined events (an operator may still replay one).
    /// Batch times grow with the position, so the scan stops at the first row stored later.
    /// </summary>
    Task<RetentionBatch> OldIngestRowsAsync(long belowSeq, DateTime storedBefore, int limit, CancellationToken ct = default);

    /// <summary>Deletes these ingest rows; the count deleted.</summary>
    Task<int> DeleteIngestRowsAsync(IReadOnlyCollection<long> seqs, CancellationToken ct = default);

    /// <summary>
    /// The customers with a move by silence (a transition with a log position) among the transitions the same call of
    /// <see cref="DeleteTransitionsAsync"/> would delete: such a move may not be in its customer's checkpoint yet.
    /// </summary>
    Task<string[]> CustomersWithOldMovesAsync(long throughCursor, DateTime before, int limit, CancellationToken ct = default);

    /// <summary>Deletes up to <paramref name="limit"/> transitions dated before <paramref name="before"/> with cursors up to <paramref name="throughCursor"/>; the count.</summary>
    Task<int> DeleteTransitionsAsync(long throughCursor, DateTime before, int limit, CancellationToken ct = default);
}
