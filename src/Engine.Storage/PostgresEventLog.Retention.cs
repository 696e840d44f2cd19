using Npgsql;

namespace Engine.Storage;

/// <summary>Retention's reads and deletes. Autovacuum makes the space reusable; the tables do not shrink on disk.</summary>
public sealed partial class PostgresEventLog : ILogRetention
{
    public async Task<RetentionBatch> OldIngestRowsAsync(long belowSeq, DateTime storedBefore, int limit, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("""
            SELECT seq, customer_id, as_of FROM ingest_log l
            WHERE seq < $1 AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.seq = l.seq) ORDER BY seq LIMIT $2
            """);
        cmd.Parameters.AddWithValue(belowSeq);
        cmd.Parameters.AddWithValue(limit);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var (seqs, customers) = (new List<long>(), new HashSet<string>(StringComparer.Ordinal));
        while (await r.ReadAsync(ct) && r.GetInt64(2) < storedBefore.Ticks)
        {
            seqs.Add(r.GetInt64(0));
            customers.Add(r.GetString(1));
        }
        return new RetentionBatch([.. seqs], [.. customers]);
    }

    public async Task<int> DeleteIngestRowsAsync(IReadOnlyCollection<long> seqs, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("DELETE FROM ingest_log WHERE seq = ANY($1)");
        cmd.Parameters.AddWithValue(seqs.ToArray());
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<string[]> CustomersWithOldMovesAsync(long throughCursor, DateTime before, int limit, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("""
            SELECT DISTINCT customer_id FROM (SELECT customer_id, log_position FROM transitions WHERE at < $1 AND id <= $2 ORDER BY at LIMIT $3) t
            WHERE log_position IS NOT NULL
            """);
        cmd.Parameters.AddWithValue(before.Ticks);
        cmd.Parameters.AddWithValue(throughCursor);
        cmd.Parameters.AddWithValue(limit);
        var customers = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            customers.Add(r.GetString(0));
        }
        return customers.ToArray();
    }

    public async Task<int> DeleteTransitionsAsync(long throughCursor, DateTime before, int limit, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("""
            DELETE FROM transitions WHERE id IN (SELECT id FROM transitions WHERE at < $1 AND id <= $2 ORDER BY at LIMIT $3)
            """);
        cmd.Parameters.AddWithValue(before.Ticks);
        cmd.Parameters.AddWithValue(throughCursor);
        cmd.Parameters.AddWithValue(limit);
        return await cmd.ExecuteNonQueryAsync(ct);
    }
}
