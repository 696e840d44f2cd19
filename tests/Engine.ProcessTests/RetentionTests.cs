using System.Text.RegularExpressions;
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Engine.ProcessTests;

/// <summary>
/// Engine:IngestLogRetention and Engine:TransitionLogRetention on a real server in event time (so row dates are the
/// test's): old rows below the checkpoint and the webhook cursor go, the rest stays, and a kill -9 restart recovers
/// the same customers (docs/operations.md, "Retention").
/// </summary>
[Collection(ServerProcesses.Name)]
[Trait("Category", "Process")]
public sealed class RetentionTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Retention = TimeSpan.FromDays(180);

    [Fact]
    public async Task Retention_deletes_only_old_rows_nothing_needs_and_the_customers_recover_the_same()
    {
        var config = new EngineServer(settings: new()
        {
            ["Engine:AutoTrainMinCustomers"] = "300",
            ["Engine:DefaultK"] = "3",
            ["Engine:CheckpointInterval"] = "00:00:00.500",
            ["Engine:RetentionInterval"] = "00:00:00.500",
            ["Engine:IngestLogRetention"] = Retention.ToString("c"),
            ["Engine:TransitionLogRetention"] = Retention.ToString("c"),
        });
        await using var process = new EngineProcess(config);
        await process.StartAsync();

        // Old: 600 customers over 1997 to mid 1998 and their first segments; then a webhook whose receiver is down, so
        // its cursor stays where it was created; then a retrain whose moves (dated now, mid 1998) come after that cursor.
        var old = Synthetic.Generate(customers: 600, seed: 81);
        await config.IngestAllAsync(old.Events, 200);
        await Population.WaitForModelAsync(config, customers: 600);
        var hook = await new AlertService.AlertServiceClient(config.Channel).CreateWebhookAsync(new CreateWebhookRequest { Url = "http://127.0.0.1:9/down" });
        var cursor = long.Parse(hook.DeliveredAfter);
        await config.Models.RetrainAsync(new RetrainRequest { K = 4 });
        await Population.WaitForModelAsync(config, atLeast: 2, customers: 600);
        // The retrain's rollout logs its moves after it returns: wait until the transition log stops growing.
        var before = await CountAsync(config.DataDirectory, cursor);
        for (var stable = 0; stable < 4; await Task.Delay(250))
        {
            var now = await CountAsync(config.DataDirectory, cursor);
            stable = now == before ? stable + 1 : 0;
            before = now;
        }
        var bytesBefore = await StorageBytesAsync(config);

        // New: 200 customers dated 400 days later move the clock on; everything the old phase stored is now past the retention.
        var fresh = Synthetic.Generate(customers: 200, seed: 82, prefix: "n");
        foreach (var e in fresh.Events)
        {
            e.OccurredAt = Timestamp.FromDateTime(e.OccurredAt.ToDateTime().AddDays(400));
        }
        await config.IngestAllAsync(fresh.Events, 200);
        var oldIds = old.CustomerIds.ToList();
        var customersBefore = (await Population.CustomersAsync(config, oldIds)).ToDictionary(c => c.CustomerId);
        var historiesBefore = await Population.HistoriesAsync(config, oldIds);

        Counts after = before;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            after = await CountAsync(config.DataDirectory, cursor);
            if (after.OldIngest == 0 && after.OldTransitionsThroughCursor == 0)
            {
                break;
            }
            await Task.Delay(250);
        }
        var bytesAfter = await StorageBytesAsync(config);
        output.WriteLine($"before: {before}; bytes {bytesBefore}");
        output.WriteLine($"after:  {after}; bytes {bytesAfter}; free pages in log.db {await FreeBytesAsync(config.DataDirectory):N0} bytes");

        // Gone: every old ingest row (all below the checkpoint by now) and every old transition up to the webhook's cursor.
        Assert.Equal(0, after.OldIngest);
        Assert.Equal(0, after.OldTransitionsThroughCursor);
        Assert.Equal(old.Events.Count, before.IngestRows);
        Assert.Equal(0, after.TransitionRows - after.TransitionsAfterCursor);
        // Kept: the new phase's events, and every transition after the webhook's cursor, old ones included (the
        // retrain's moves and inactivity moves the clock's jump dated in between): exactly the rows up to the cursor went.
        Assert.Equal(fresh.Events.Count, after.IngestRows);
        Assert.True(after.TransitionsAfterCursor - after.NewTransitions >= before.TransitionsAfterCursor && before.TransitionsAfterCursor > 0, $"{after}");
        var metrics = await new HttpClient().GetStringAsync(config.HttpAddress + "/metrics");
        Assert.Equal(before.IngestRows, Metric(metrics, "engine_log_rows_deleted_total{log=\"ingest\"}"));
        Assert.Equal(before.TransitionRows - before.TransitionsAfterCursor, Metric(metrics, "engine_log_rows_deleted_total{log=\"transitions\"}"));

        // A kill -9 restart recovers the same customers, and their histories (kept in their own state) still answer.
        process.Kill();
        await config.StopAsync();
        await process.StartAsync();
        var expected = old.Expected();
        foreach (var c in await Population.CustomersAsync(config, oldIds))
        {
            Assert.Equal(expected[c.CustomerId].Frequency, c.Rfm.Frequency);
            Assert.Equal(expected[c.CustomerId].Monetary, c.Rfm.Monetary, 0.005);
            Assert.Equal(customersBefore[c.CustomerId].SegmentId, c.SegmentId);
        }
        Assert.Equal(historiesBefore, await Population.HistoriesAsync(config, oldIds));
        // The webhook's cursor did not move and everything after it is still there to deliver.
        var hooks = await new AlertService.AlertServiceClient(config.Channel).ListWebhooksAsync(new ListWebhooksRequest());
        Assert.Equal(hook.DeliveredAfter, hooks.Webhooks.Single().DeliveredAfter);
        Assert.Equal(after.TransitionsAfterCursor, (await CountAsync(config.DataDirectory, cursor)).TransitionsAfterCursor);
        // A resent old event is new again once its first copy is gone (docs/operations.md says so).
        var resent = await config.Ingest.IngestAsync(Synthetic.Request(old.Events[0]));
        Assert.Equal(1, resent.Accepted);
    }

    private sealed record Counts(long IngestRows, long OldIngest, long TransitionRows, long OldTransitionsThroughCursor, long TransitionsAfterCursor, long NewTransitions);

    /// <summary>Rows in log.db; "old" is stored (ingest) or dated (transitions) more than the retention before the clock now.</summary>
    private static async Task<Counts> CountAsync(string dataDirectory, long cursor)
    {
        await using var c = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dataDirectory, "log.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false,
        }.ToString());
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT (SELECT COUNT(*) FROM ingest_log),
                   (SELECT COUNT(*) FROM ingest_log WHERE as_of < $cut),
                   (SELECT COUNT(*) FROM transitions),
                   (SELECT COUNT(*) FROM transitions WHERE at < $cut AND id <= $cursor),
                   (SELECT COUNT(*) FROM transitions WHERE id > $cursor),
                   (SELECT COUNT(*) FROM transitions WHERE at >= $cut)
            """;
        await using var now = c.CreateCommand();
        now.CommandText = "SELECT MAX(as_of) FROM ingest_log";
        var cut = (long)(await now.ExecuteScalarAsync())! - Retention.Ticks;
        cmd.Parameters.AddWithValue("$cut", cut);
        cmd.Parameters.AddWithValue("$cursor", cursor);
        await using var r = await cmd.ExecuteReaderAsync();
        r.Read();
        return new Counts(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5));
    }

    /// <summary>Pages retention freed in log.db: reused by later appends (the file does not shrink).</summary>
    private static async Task<long> FreeBytesAsync(string dataDirectory)
    {
        await using var c = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dataDirectory, "log.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false,
        }.ToString());
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT (SELECT freelist_count FROM pragma_freelist_count) * (SELECT page_size FROM pragma_page_size)";
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task<string> StorageBytesAsync(EngineServer server)
    {
        await Task.Delay(700);
        var metrics = await new HttpClient().GetStringAsync(server.HttpAddress + "/metrics");
        return $"log {Metric(metrics, "engine_storage_bytes{store=\"log\"}"):N0}, orleans {Metric(metrics, "engine_storage_bytes{store=\"orleans\"}"):N0}";
    }

    private static long Metric(string metrics, string series) =>
        (long)double.Parse(Regex.Match(metrics, "^" + Regex.Escape(series) + @" (\S+)$", RegexOptions.Multiline).Groups[1].Value,
            System.Globalization.CultureInfo.InvariantCulture);
}
