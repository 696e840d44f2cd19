using Engine.Abstractions;
using Microsoft.Data.Sqlite;

namespace Engine.Storage;

/// <summary>The quarantine's table, beside the ingest log it points into.</summary>
public sealed partial class SqliteEventLog
{
    /// <summary>The record's columns, then the event's as ReadEvent reads them (from column 3).</summary>
    private const string QuarantineColumns = """
        q.error, q.quarantined_at, q.discarded_at,
        l.seq, l.event_id, l.customer_id, l.kind, l.occurred_at, l.amount, l.category, l.as_of, l.model_version
        FROM quarantine q JOIN ingest_log l ON l.seq = q.seq
        """;

    public Task AddAsync(IReadOnlyList<QuarantineRecord> events, CancellationToken ct = default) =>
        WriteAsync(c =>
        {
            using var tx = c.BeginTransaction();
            using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = """
                INSERT INTO quarantine (seq, customer_id, event_id, error, quarantined_at) VALUES ($s, $c, $e, $err, $at)
                ON CONFLICT (seq) DO UPDATE SET error = excluded.error
                """;
            foreach (var e in events)
            {
                cmd.Parameters.Clear();
                cmd.Parameters.AddWithValue("$s", e.Event.LogPosition);
                cmd.Parameters.AddWithValue("$c", e.Event.CustomerId);
                cmd.Parameters.AddWithValue("$e", e.Event.EventId);
                cmd.Parameters.AddWithValue("$err", e.Error);
                cmd.Parameters.AddWithValue("$at", e.QuarantinedAt.Ticks);
                cmd.ExecuteNonQuery();
            }
            tx.Commit();
            return 0;
        }, ct);

    public Task<QuarantineRecord[]> ListAsync(bool includeDiscarded, long afterSeq, int limit, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = $"""
                SELECT {QuarantineColumns}
                WHERE q.seq > $a {(includeDiscarded ? "" : "AND q.discarded_at IS NULL")} ORDER BY q.seq LIMIT $n
                """;
            cmd.Parameters.AddWithValue("$a", afterSeq);
            cmd.Parameters.AddWithValue("$n", limit);
            using var r = cmd.ExecuteReader();
            var list = new List<QuarantineRecord>();
            while (r.Read())
            {
                list.Add(ReadQuarantined(r));
            }
            return list.ToArray();
        }, ct);

    public Task<QuarantineRecord?> GetAsync(long seq, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = $"SELECT {QuarantineColumns} WHERE q.seq = $s";
            cmd.Parameters.AddWithValue("$s", seq);
            using var r = cmd.ExecuteReader();
            return r.Read() ? ReadQuarantined(r) : null;
        }, ct);

    public Task SetErrorAsync(long seq, string error, CancellationToken ct = default) =>
        ExecuteAsync("UPDATE quarantine SET error = $e WHERE seq = $s", ct, ("$s", seq), ("$e", error));

    public Task<bool> DiscardAsync(long seq, DateTime at, CancellationToken ct = default) =>
        WriteAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "UPDATE quarantine SET discarded_at = $at WHERE seq = $s AND discarded_at IS NULL";
            cmd.Parameters.AddWithValue("$s", seq);
            cmd.Parameters.AddWithValue("$at", at.Ticks);
            return cmd.ExecuteNonQuery() > 0;
        }, ct);

    public Task<bool> RemoveAsync(long seq, CancellationToken ct = default) =>
        WriteAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "DELETE FROM quarantine WHERE seq = $s";
            cmd.Parameters.AddWithValue("$s", seq);
            return cmd.ExecuteNonQuery() > 0;
        }, ct);

    public Task<long> CountPendingAsync(CancellationToken ct = default) =>
        ReadLongAsync("SELECT COUNT(*) FROM quarantine WHERE discarded_at IS NULL", ct);

    private static QuarantineRecord ReadQuarantined(SqliteDataReader r) =>
        new(ReadEvent(r, 3), r.GetString(0), new DateTime(r.GetInt64(1), DateTimeKind.Utc), r.IsDBNull(2) ? null : new DateTime(r.GetInt64(2), DateTimeKind.Utc));
}
