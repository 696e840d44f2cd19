namespace Engine.Storage;

/// <summary>The audit log's table (011-audit-log.sql).</summary>
public sealed partial class PostgresEventLog : IAuditLog
{
    public async Task<long> AppendAsync(string who, string action, string target, string details, string outcome = AuditLog.Ok, CancellationToken ct = default) =>
        (long)(await Scalar("""
            INSERT INTO audit_log (at, who, action, target, outcome, details) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
            """, ct, DateTime.UtcNow.Ticks, who, action, target, outcome, details))!;

    public async Task<AuditEntry[]> ListAsync(long beforeId, int limit, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("""
            SELECT id, at, who, action, target, outcome, details FROM audit_log
            WHERE $1 = 0 OR id < $1 ORDER BY id DESC LIMIT $2
            """);
        cmd.Parameters.AddWithValue(beforeId);
        cmd.Parameters.AddWithValue(limit);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var list = new List<AuditEntry>();
        while (await r.ReadAsync(ct))
        {
            list.Add(new AuditEntry(r.GetInt64(0), Ticks(r.GetInt64(1)), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetString(6)));
        }
        return list.ToArray();
    }
}
