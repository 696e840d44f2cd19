using Npgsql;

namespace Engine.Storage;

/// <summary>Erasure: the deletes under the ingest lock (so no append interleaves), then VACUUM of the tables touched.</summary>
public sealed partial class PostgresEventLog : ICustomerErasure
{
    /// <summary>Every table an erasure deletes from, its grain state (OrleansStorage) included.</summary>
    private static readonly string[] ErasedTables = ["ingest_log", "transitions", "quarantine", "webhook_dead_letters", "orleansstorage"];

    public async Task<ErasedRows> EraseCustomerAsync(string customerId, CancellationToken ct = default)
    {
        await using var c = await _db.OpenConnectionAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        await LockAsync(c, tx, IngestLock, ct);
        async Task<int> RunAsync(string sql)
        {
            await using var cmd = new NpgsqlCommand(sql, c, tx);
            cmd.Parameters.AddWithValue("c", customerId);
            cmd.Parameters.AddWithValue("e", ErasureText.Escaped(customerId));
            return await cmd.ExecuteNonQueryAsync(ct);
        }
        // The last row keeps its position (and batch time, which the next append must pass) as a tombstone.
        var tombstone = await RunAsync("""
            UPDATE ingest_log SET event_id = 'erased:' || seq, customer_id = '', kind = 0, amount = 0, category = NULL, attributes = NULL
            WHERE seq = (SELECT MAX(seq) FROM ingest_log) AND customer_id = @c
            """);
        var events = tombstone + await RunAsync("DELETE FROM ingest_log WHERE customer_id = @c");
        var transitions = await RunAsync("DELETE FROM transitions WHERE customer_id = @c");
        var quarantined = await RunAsync("DELETE FROM quarantine WHERE customer_id = @c");
        var letters = await RunAsync("DELETE FROM webhook_dead_letters WHERE strpos(body, @c) > 0 OR strpos(body, @e) > 0");
        await tx.CommitAsync(ct);
        return new ErasedRows(events, transitions, letters, quarantined);
    }

    public async Task ScrubAsync(CancellationToken ct = default)
    {
        // A dump holds only live rows; VACUUM also removes the dead tuples from the tables' pages, so the deleted rows
        // are not readable from the files either (until VACUUM, they are, to anyone with the data directory).
        foreach (var table in ErasedTables)
        {
            await using var cmd = _db.CreateCommand($"VACUUM {table}");
            await cmd.ExecuteNonQueryAsync(ct);
        }
    }
}
