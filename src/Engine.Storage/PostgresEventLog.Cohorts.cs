using Engine.Core;

namespace Engine.Storage;

/// <summary>The cohort table's scan of the ingest log.</summary>
public sealed partial class PostgresEventLog : ICohortSource
{
    public async Task ScanCohortEventsAsync(Action<IReadOnlyCollection<CohortEvent>> customer, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("""
            SELECT customer_id, kind, occurred_at, amount FROM ingest_log l
            WHERE kind IN ($1, $2) AND customer_id <> '' AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.seq = l.seq)
            ORDER BY customer_id
            """);
        cmd.Parameters.AddWithValue((int)EventKind.Purchase);
        cmd.Parameters.AddWithValue((int)EventKind.Refund);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        var (current, events) = ((string?)null, new List<CohortEvent>());
        while (await r.ReadAsync(ct))
        {
            var id = r.GetString(0);
            if (id != current && events.Count > 0)
            {
                customer(events);
                events = [];
            }
            current = id;
            events.Add(new CohortEvent((EventKind)r.GetInt32(1), Ticks(r.GetInt64(2)), r.GetDouble(3)));
        }
        if (events.Count > 0)
        {
            customer(events);
        }
    }
}
