namespace Engine.Storage;

/// <summary>What an erasure removed from the store.</summary>
public readonly record struct ErasedRows(long Events, long Transitions, long DeadLetters, long Quarantined);

/// <summary>
/// Erasure of one customer from Engine's own tables (the grains clear their own state), and the scrub that makes the
/// deletion physical: no copy left in free pages, the WAL or dead tuples.
/// </summary>
public interface ICustomerErasure
{
    /// <summary>
    /// Deletes the customer's ingest-log events, head, transitions, quarantined events and the dead letters whose body
    /// names it, in one transaction. The log's last row keeps its position as a tombstone (no customer, no content) when
    /// it is the customer's: new events are numbered after the last row, and positions must never be given twice.
    /// </summary>
    Task<ErasedRows> EraseCustomerAsync(string customerId, CancellationToken ct = default);

    /// <summary>Rewrites the store so deleted rows leave no copy behind (SQLite: VACUUM and a truncating WAL checkpoint of both files; PostgreSQL: VACUUM).</summary>
    Task ScrubAsync(CancellationToken ct = default);
}

/// <summary>How an erasure finds a customer inside a stored alert body (JSON): the id as it is, and JSON-escaped.</summary>
public static class ErasureText
{
    public static string Escaped(string customerId) => System.Text.Json.JsonSerializer.Serialize(customerId)[1..^1];
}
