using Engine.Api.V1;
using Npgsql;

namespace Engine.ProcessTests;

/// <summary>The real server on PostgreSQL through kill -9: the reminder, membership and grain-state providers included.</summary>
[Collection(ServerProcesses.Name)]
[Trait("Category", "Process")]
public sealed class PostgresDurabilityTests
{
    [SkippableFact]
    public async Task The_server_on_postgres_loses_nothing_to_kill_minus_9()
    {
        await using var db = await Postgres.CreateDatabaseAsync();
        var cs = db.ConnectionString;
        var config = new EngineServer(settings: new()
        {
            ["Engine:Storage"] = "postgres",
            ["Engine:ConnectionString"] = cs,
            ["Engine:AutoTrainMinCustomers"] = "200",
            ["Engine:DefaultK"] = "3",
            ["Engine:CheckpointInterval"] = "00:10:00",
            // Exercises the reminder provider: the coordinator registers its schedule.
            ["Engine:RetrainInterval"] = "01:00:00",
        });
        await using var process = new EngineProcess(config);
        await process.StartAsync();
        var data = Synthetic.Generate(customers: 300, seed: 51);
        var requests = Synthetic.Batches(data.Events, 400).ToList();
        foreach (var request in requests)
        {
            Assert.Equal(request.Events.Count, (await config.Ingest.IngestAsync(request)).Accepted);
        }
        var ids = data.CustomerIds.ToList();
        await Population.WaitForModelAsync(config, customers: ids.Count);
        var before = await Population.CustomersAsync(config, ids);
        var histories = await Population.HistoriesAsync(config, ids);
        process.Kill();
        await config.StopAsync();

        await process.StartAsync();
        var expected = data.Expected();
        var after = (await Population.CustomersAsync(config, ids)).ToDictionary(c => c.CustomerId);
        foreach (var b in before)
        {
            Assert.Equal(expected[b.CustomerId].Frequency, after[b.CustomerId].Rfm.Frequency);
            Assert.Equal(expected[b.CustomerId].Monetary, after[b.CustomerId].Rfm.Monetary, 0.005);
            Assert.Equal(b.SegmentId, after[b.CustomerId].SegmentId);
        }
        Assert.Equal(histories, await Population.HistoriesAsync(config, ids));
        foreach (var request in requests)
        {
            Assert.Equal(request.Events.Count, (await config.Ingest.IngestAsync(request)).Duplicates);
        }
        Assert.Equal(ids.Count, (await config.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments.Sum(s => s.Size));
        await Population.AssertMatrixMatchesHistoriesAsync(config, ids);

        await using var c = new NpgsqlConnection(cs);
        await c.OpenAsync();
        await using var reminders = new NpgsqlCommand("SELECT COUNT(*) FROM OrleansRemindersTable", c);
        Assert.Equal(1L, await reminders.ExecuteScalarAsync());
        await using var silos = new NpgsqlCommand("SELECT COUNT(*) FROM OrleansMembershipTable WHERE Status = 3", c);
        Assert.Equal(1L, await silos.ExecuteScalarAsync());
    }
}
