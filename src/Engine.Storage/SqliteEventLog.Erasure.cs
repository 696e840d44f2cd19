using Microsoft.Data.Sqlite;

namespace Engine.Storage;

/// <summary>Erasure: the deletes on the writer (so no append interleaves), then VACUUM of both files.</summary>
public sealed partial class SqliteEventLog : ICustomerErasure
{
    public Task<ErasedRows> EraseCustomerAsync(string customerId, CancellationToken ct = default) =>
        WriteAsync(c =>
        {
            using var tx = c.BeginTransaction();
            int Run(string sql)
            {
                using var cmd = c.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = sql;
                cmd.Parameters.AddWithValue("$c", customerId);
                cmd.Parameters.AddWithValue("$e", ErasureText.Escaped(customerId));
                return cmd.ExecuteNonQuery();
            }
            // The last row keeps its position (and batch time, which the next append must pass) as a tombstone.
            var tombstone = Run("""
                UPDATE ingest_log SET event_id = 'erased:' || seq, customer_id = '', kind = 0, amount = 0, category = NULL,
                    attributes = NULL, prev_seq = 0
                WHERE seq = (SELECT MAX(seq) FROM ingest_log) AND customer_id = $c
                """);
            var events = tombstone + Run("DELETE FROM ingest_log WHERE customer_id = $c");
            Run("DELETE FROM customer_head WHERE customer_id = $c");
            var transitions = Run("DELETE FROM transitions WHERE customer_id = $c");
            var quarantined = Run("DELETE FROM quarantine WHERE customer_id = $c");
            var letters = Run("DELETE FROM webhook_dead_letters WHERE instr(body, $c) > 0 OR instr(body, $e) > 0");
            tx.Commit();
            return new ErasedRows(events, transitions, letters, quarantined);
        }, ct);

    public async Task ScrubAsync(CancellationToken ct = default)
    {
        // VACUUM rewrites every live page and drops the rest, which also clears older copies of rows that updates and
        // page splits left in free space (secure_delete only zeroes what is deleted now); the truncating checkpoint
        // then empties the WAL, which held the pre-VACUUM frames.
        await WriteAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "VACUUM";
            cmd.ExecuteNonQuery();
            Checkpoint(c);
            return 0;
        }, ct);
        await Task.Run(() =>
        {
            using var c = SqliteDatabase.Open(_database.OrleansConnectionString);
            using var cmd = c.CreateCommand();
            cmd.CommandText = "VACUUM";
            cmd.ExecuteNonQuery();
            Checkpoint(c);
        }, ct);
    }

    /// <summary>A truncating WAL checkpoint, repeated while readers keep it from finishing (they move off the WAL quickly).</summary>
    private static void Checkpoint(SqliteConnection c)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
            using var r = cmd.ExecuteReader();
            if (!r.Read() || r.GetInt64(0) == 0 || attempt == 50)
            {
                return;
            }
            Thread.Sleep(100);
        }
    }
}
