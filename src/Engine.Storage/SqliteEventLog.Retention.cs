using Microsoft.Data.Sqlite;

namespace Engine.Storage;

/// <summary>Retention's reads and deletes. Freed pages are reused by later appends; the file does not shrink.</summary>
public sealed partial class SqliteEventLog : ILogRetention
{
    public Task<RetentionBatch> OldIngestRowsAsync(long belowSeq, DateTime storedBefore, int limit, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                SELECT seq, customer_id, as_of FROM ingest_log
                WHERE seq < $below AND seq NOT IN (SELECT seq FROM quarantine) ORDER BY seq LIMIT $n
                """;
            cmd.Parameters.AddWithValue("$below", belowSeq);
            cmd.Parameters.AddWithValue("$n", limit);
            using var r = cmd.ExecuteReader();
            var (seqs, customers) = (new List<long>(), new HashSet<string>(StringComparer.Ordinal));
            while (r.Read() && r.GetInt64(2) < storedBefore.Ticks)
            {
                seqs.Add(r.GetInt64(0));
                customers.Add(r.GetString(1));
            }
            return new RetentionBatch([.. seqs], [.. customers]);
        }, ct);

    public Task<int> DeleteIngestRowsAsync(IReadOnlyCollection<long> seqs, CancellationToken ct = default) =>
        ExecuteAsync("DELETE FROM ingest_log WHERE seq IN (SELECT value FROM json_each($seqs))", ct,
            ("$seqs", System.Text.Json.JsonSerializer.Serialize(seqs)));

    public Task<string[]> CustomersWithOldMovesAsync(long throughCursor, DateTime before, int limit, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                SELECT DISTINCT customer_id FROM (SELECT customer_id, log_position FROM transitions WHERE at < $t AND id <= $c ORDER BY at LIMIT $n)
                WHERE log_position IS NOT NULL
                """;
            cmd.Parameters.AddWithValue("$t", before.Ticks);
            cmd.Parameters.AddWithValue("$c", throughCursor);
            cmd.Parameters.AddWithValue("$n", limit);
            using var r = cmd.ExecuteReader();
            var customers = new List<string>();
            while (r.Read())
            {
                customers.Add(r.GetString(0));
            }
            return customers.ToArray();
        }, ct);

    public Task<int> DeleteTransitionsAsync(long throughCursor, DateTime before, int limit, CancellationToken ct = default) =>
        ExecuteAsync("""
            DELETE FROM transitions WHERE id IN (SELECT id FROM transitions WHERE at < $t AND id <= $c ORDER BY at LIMIT $n)
            """, ct, ("$t", before.Ticks), ("$c", throughCursor), ("$n", limit));
}
