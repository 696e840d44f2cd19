using System.Net;
using System.Text;
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Npgsql;

namespace Engine.ProcessTests;

/// <summary>
/// Erasure (docs/operations.md, "Erasure"), on both stores: a customer with a model-formed segment and a dead-lettered
/// alert naming it is erased; after a restart no file of the store (nor a dump of the PostgreSQL database) holds its
/// id, sizes no longer count it, and a new event with the id starts a new customer.
/// </summary>
[Trait("Category", "Process")]
public sealed class ErasureTests
{
    private const string Id = "erase-me-7f3a9c";

    private static Dictionary<string, string?> Settings() => new()
    {
        ["Engine:WebhookRetryDelay"] = "00:00:00.050",
        ["Engine:WebhookMaxAttempts"] = "2",
        ["Engine:DriftCheckInterval"] = "01:00:00",
    };

    [Fact]
    public async Task An_erased_customer_leaves_no_trace_in_the_sqlite_files_after_a_restart()
    {
        var config = new EngineServer(settings: Settings());
        await ScenarioAsync(config, () => Task.FromResult(Directory.GetFiles(config.DataDirectory, "*", SearchOption.AllDirectories)
            .Select(f => (f, File.ReadAllBytes(f))).ToList()));
    }

    [SkippableFact]
    public async Task An_erased_customer_leaves_no_trace_in_a_postgres_dump_after_a_restart()
    {
        await using var database = await Postgres.CreateDatabaseAsync();
        await Tool.Require("postgresql-client-15",
            () => Task.FromResult(File.Exists("/usr/lib/postgresql/15/bin/pg_dump")),
            () => Tool.RunAsync("sh", ["-c", "apt-get install -y -qq postgresql-client-15 || (apt-get update -qq && apt-get install -y -qq postgresql-client-15)"],
                environment: new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" }));
        var settings = Settings();
        settings["Engine:Storage"] = "postgres";
        settings["Engine:ConnectionString"] = database.ConnectionString;
        var config = new EngineServer(settings: settings);
        await ScenarioAsync(config, async () =>
        {
            var cs = new NpgsqlConnectionStringBuilder(database.ConnectionString);
            var file = Path.Combine(TempDirectory.Create(), "engine.sql");
            var dump = await Tool.RunAsync("/usr/lib/postgresql/15/bin/pg_dump", ["-h", cs.Host!, "-U", cs.Username!, "-d", database.Name, "-f", file],
                environment: new Dictionary<string, string> { ["PGPASSWORD"] = cs.Password ?? "" });
            Assert.True(dump.ExitCode == 0, dump.All);
            return [(file, await File.ReadAllBytesAsync(file))];
        });
    }

    private static async Task ScenarioAsync(EngineServer config, Func<Task<List<(string File, byte[] Bytes)>>> files)
    {
        await using var receiver = new HttpSink(400);
        await config.StartAsync();
        try
        {
            // The customer among others, so a model forms and its first assignment is an alert the receiver refuses.
            var alerts = new AlertService.AlertServiceClient(config.Channel);
            await alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = receiver.Address, FromStart = true });
            var data = Synthetic.Generate(60, seed: 47);
            for (var d = 0; d < 5; d++)
            {
                data.Add($"x{d}", Id, EventType.Purchase, Synthetic.Start.AddDays(10 * d + 1), 40 + d, "music");
            }
            await config.IngestAllAsync(data.Events, 500);
            await config.Models.RetrainAsync(new RetrainRequest { K = 3 });
            var before = await config.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = Id });
            Assert.Equal(5, before.EventCount);
            Assert.NotEqual("unassigned", before.SegmentId);
            var letters = await Poll.UntilAsync(async () => (await alerts.ListDeadLettersAsync(new ListDeadLettersRequest { PageSize = 1000 })).DeadLetters,
                l => l.Any(x => x.Body.Contains(Id)));
            Assert.Contains(letters, l => l.Body.Contains(Id));
            var sizeBefore = (await config.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments.Sum(s => s.Size);

            var erased = await config.Admin.EraseCustomerAsync(new EraseCustomerRequest { CustomerId = Id });
            Assert.Equal(5, erased.EventsErased);
            Assert.True(erased.TransitionsErased >= 1);
            Assert.True(erased.DeadLettersErased >= 1);
            var missing = await Assert.ThrowsAsync<RpcException>(() => config.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = Id }).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, missing.StatusCode);
            Assert.Equal(sizeBefore - 1, (await config.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments.Sum(s => s.Size));
            Assert.DoesNotContain((await alerts.ListDeadLettersAsync(new ListDeadLettersRequest { PageSize = 1000 })).DeadLetters, l => l.Body.Contains(Id));

            await config.StopAsync();
            var utf8 = Encoding.UTF8.GetBytes(Id);
            var utf16 = Encoding.Unicode.GetBytes(Id);
            foreach (var (file, bytes) in await files())
            {
                Assert.True(bytes.AsSpan().IndexOf(utf8) < 0, $"{file} holds the erased id (UTF-8)");
                Assert.True(bytes.AsSpan().IndexOf(utf16) < 0, $"{file} holds the erased id (UTF-16)");
            }

            // A restart brings nothing back; a new event starts a new customer.
            await config.StartAsync();
            missing = await Assert.ThrowsAsync<RpcException>(() => config.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = Id }).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, missing.StatusCode);
            Assert.Equal(sizeBefore - 1, (await config.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments.Sum(s => s.Size));
            await config.Ingest.IngestAsync(new IngestRequest
            {
                Events =
                {
                    new Event
                    {
                        EventId = "new-1", CustomerId = Id, Type = EventType.Purchase, Amount = 12,
                        OccurredAt = Timestamp.FromDateTime(Synthetic.Start.AddDays(600)),
                    },
                },
            });
            var fresh = await config.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = Id });
            Assert.Equal(1, fresh.EventCount);
            Assert.Equal(1, fresh.Rfm.Frequency);
        }
        finally
        {
            await config.StopAsync();
        }
    }

}
