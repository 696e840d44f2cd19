using Engine.Abstractions;
using Npgsql;

namespace Engine.Storage;

/// <summary>The quarantine's table, beside the ingest log it points into.</summary>
public sealed partial class PostgresEventLog
{
    /// <summary>The record's columns, then the event's as ReadEvent reads them (from column 3).</summary>
    private const string QuarantineColumns = """
        q.error, q.quarantined_at, q.discarded_at,
        l.seq, l.event_id, l.customer_id, l.kind, l.occurred_at, l.amount, l.category, l.as_of, l.model_version
        FROM quarantine q JOIN ingest_log l ON l.seq = q.seq
        """;

    public async Task AddAsync(IReadOnlyList<QuarantineRecord> events, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("""
            INSERT INTO quarantine (seq, customer_id, event_id, error, quarantined_at)
            SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[])
            ON CONFLICT (seq) DO UPDATE SET error = excluded.error
            """);
        cmd.Parameters.AddWithValue(events.Select(e => e.Event.LogPosition).ToArray());
        cmd.Parameters.AddWithValue(events.Select(e => e.Event.CustomerId).ToArray());
        cmd.Parameters.AddWithValue(events.Select(e => e.Event.EventId).ToArray());
        cmd.Parameters.AddWithValue(events.Select(e => e.Error).ToArray());
        cmd.Parameters.AddWithValue(events.Select(e => e.QuarantinedAt.Ticks).ToArray());
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task<QuarantineRecord[]> ListAsync(bool includeDiscarded, long afterSeq, int limit, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand($"""
            SELECT {QuarantineColumns}
            WHERE q.seq > $1 {(includeDiscarded ? "" : "AND q.discarded_at IS NULL")} ORDER BY q.seq LIMIT $2
            """);
        cmd.Parameters.AddWithValue(afterSeq);
        cmd.Parameters.AddWithValue(limit);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var list = new List<QuarantineRecord>();
        while (await r.ReadAsync(ct))
        {
            list.Add(ReadQuarantined(r));
        }
        return list.ToArray();
    }

    public async Task<QuarantineRecord?> GetAsync(long seq, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand($"SELECT {QuarantineColumns} WHERE q.seq = $1");
        cmd.Parameters.AddWithValue(seq);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct) ? ReadQuarantined(r) : null;
    }

    public async Task SetErrorAsync(long seq, string error, CancellationToken ct = default) =>
        await Scalar("UPDATE quarantine SET error = $2 WHERE seq = $1", ct, seq, error);

    public async Task<bool> DiscardAsync(long seq, DateTime at, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("UPDATE quarantine SET discarded_at = $2 WHERE seq = $1 AND discarded_at IS NULL");
        cmd.Parameters.AddWithValue(seq);
        cmd.Parameters.AddWithValue(at.Ticks);
        return await cmd.ExecuteNonQueryAsync(ct) > 0;
    }

    public async Task<bool> RemoveAsync(long seq, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("DELETE FROM quarantine WHERE seq = $1");
        cmd.Parameters.AddWithValue(seq);
        return await cmd.ExecuteNonQueryAsync(ct) > 0;
    }

    public async Task<long> CountPendingAsync(CancellationToken ct = default) =>
        (long)(await Scalar("SELECT COUNT(*) FROM quarantine WHERE discarded_at IS NULL", ct))!;

    private static QuarantineRecord ReadQuarantined(NpgsqlDataReader r) =>
        new(ReadEvent(r, 3), r.GetString(0), Ticks(r.GetInt64(1)), r.IsDBNull(2) ? null : Ticks(r.GetInt64(2)));
}
