namespace Engine.Storage;

/// <summary>The audit log's table, in log.db (011-audit-log.sql).</summary>
public sealed partial class SqliteEventLog : IAuditLog
{
    public Task<long> AppendAsync(string who, string action, string target, string details, string outcome = AuditLog.Ok, CancellationToken ct = default) =>
        WriteAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                INSERT INTO audit_log (at, who, action, target, outcome, details) VALUES ($at, $who, $action, $target, $outcome, $details)
                RETURNING id
                """;
            cmd.Parameters.AddWithValue("$at", DateTime.UtcNow.Ticks);
            cmd.Parameters.AddWithValue("$who", who);
            cmd.Parameters.AddWithValue("$action", action);
            cmd.Parameters.AddWithValue("$target", target);
            cmd.Parameters.AddWithValue("$outcome", outcome);
            cmd.Parameters.AddWithValue("$details", details);
            return (long)cmd.ExecuteScalar()!;
        }, ct);

    public Task<AuditEntry[]> ListAsync(long beforeId, int limit, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                SELECT id, at, who, action, target, outcome, details FROM audit_log
                WHERE $before = 0 OR id < $before ORDER BY id DESC LIMIT $n
                """;
            cmd.Parameters.AddWithValue("$before", beforeId);
            cmd.Parameters.AddWithValue("$n", limit);
            using var r = cmd.ExecuteReader();
            var list = new List<AuditEntry>();
            while (r.Read())
            {
                list.Add(new AuditEntry(r.GetInt64(0), new DateTime(r.GetInt64(1), DateTimeKind.Utc), r.GetString(2), r.GetString(3),
                    r.GetString(4), r.GetString(5), r.GetString(6)));
            }
            return list.ToArray();
        }, ct);
}
