using Engine.Core;

namespace Engine.Storage;

/// <summary>The cohort table's scan of the ingest log.</summary>
public sealed partial class SqliteEventLog : ICohortSource
{
    public Task ScanCohortEventsAsync(Action<IReadOnlyCollection<CohortEvent>> customer, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                SELECT customer_id, kind, occurred_at, amount FROM ingest_log
                WHERE kind IN ($purchase, $refund) AND customer_id <> '' AND seq NOT IN (SELECT seq FROM quarantine)
                ORDER BY customer_id
                """;
            cmd.Parameters.AddWithValue("$purchase", (int)EventKind.Purchase);
            cmd.Parameters.AddWithValue("$refund", (int)EventKind.Refund);
            using var r = cmd.ExecuteReader();
            var (current, events) = ((string?)null, new List<CohortEvent>());
            while (r.Read())
            {
                var id = r.GetString(0);
                if (id != current && events.Count > 0)
                {
                    customer(events);
                    events = [];
                }
                current = id;
                events.Add(new CohortEvent((EventKind)r.GetInt32(1), new DateTime(r.GetInt64(2), DateTimeKind.Utc), r.GetDouble(3)));
            }
            if (events.Count > 0)
            {
                customer(events);
            }
            return 0;
        }, ct);
}
