using Engine.Api.V1;
using Grpc.Core;

namespace Engine.ProcessTests;

/// <summary>
/// One bad event must never stop the engine or lose data: bounds at the door, numbers that cannot blow up, one id per
/// customer, and a quarantine for an event a customer cannot apply. Over real gRPC, on real SQLite files.
/// </summary>
[Trait("Category", "Process")]
public sealed class BadEventTests
{
    private static readonly Dictionary<string, string?> Settings = new()
    {
        // Long enough that the kill lands between checkpoints: recovery must replay the log, extreme event included.
        ["Engine:CheckpointInterval"] = "00:10:00",
        ["Engine:CheckpointEvery"] = "1000",
    };

    private static Event Purchase(string eventId, string customerId, DateTime at, double amount, EventType type = EventType.Purchase) =>
        Synthetic.NewEvent(eventId, customerId, type, at, amount);


    [Fact]
    public async Task A_purchase_of_1e300_is_rejected_at_the_door_and_with_the_bound_raised_retrains_lookups_and_restarts_survive_it()
    {
        var data = Synthetic.Generate(customers: 500, seed: 31);
        var config = new EngineServer(settings: Settings);
        await using var process = new EngineProcess(config);
        await process.StartAsync();
        await config.IngestAllAsync(data.Events, 500);
        await config.Models.RetrainAsync(new RetrainRequest { K = 3 });

        // The issue's request, as an anonymous client would send it.
        var response = await config.Ingest.IngestAsync(Synthetic.Request(Purchase("whale-1", "whale", data.Watermark, 1e300)));
        Assert.Equal(0, response.Accepted);
        Assert.StartsWith("amount:", Assert.Single(response.Rejected).Reason);
        Assert.Contains("Engine:MaxAmount", response.Rejected[0].Reason);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(async () =>
            await config.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "whale" }))).StatusCode);

        // Raised as far as a double goes: now the extreme values get in, and sums overflow past double's range.
        Assert.Equal(0, await process.TerminateAsync());
        config.Settings["Engine:MaxAmount"] = double.MaxValue.ToString("R");
        await process.StartAsync();
        response = await config.Ingest.IngestAsync(Synthetic.Request(
            Purchase("whale-1", "whale", data.Watermark, 1e300),
            Purchase("whale-2", "whale", data.Watermark, double.MaxValue),
            Purchase("whale-3", "whale", data.Watermark, double.MaxValue),
            Purchase("tiny-1", "tiny", data.Watermark, double.Epsilon),
            Purchase("tiny-2", "tiny", data.Watermark, double.MaxValue, EventType.Refund)));
        Assert.Equal(5, response.Accepted);

        await AssertHealthyAsync(config, ["whale", "tiny", data.CustomerIds.First()]);
        Assert.Equal(0, await process.TerminateAsync());
        await process.StartAsync();
        await AssertHealthyAsync(config, ["whale", "tiny", data.CustomerIds.First()]);
        // kill -9 between checkpoints: the restart replays the extreme events from the log.
        await config.Ingest.IngestAsync(Synthetic.Request(Purchase("whale-4", "whale", data.Watermark, double.MaxValue)));
        process.Kill();
        await config.StopAsync();
        await process.StartAsync();
        await AssertHealthyAsync(config, ["whale", "tiny", data.CustomerIds.First()]);
        Assert.Equal(4, (await config.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "whale" })).Rfm.Frequency);
    }

    /// <summary>Retrains succeed with a given and a searched k, and every answer a user can ask for is finite.</summary>
    private static async Task AssertHealthyAsync(EngineServer server, string[] customers)
    {
        foreach (var k in new[] { 3, 0 })
        {
            var retrain = FiniteResponses.Assert(await server.Models.RetrainAsync(new RetrainRequest { K = k }));
            Assert.True(retrain.ModelVersion > 0);
        }
        foreach (var id in customers)
        {
            var customer = FiniteResponses.Assert(await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }));
            Assert.NotEqual("unassigned", customer.SegmentId);
            FiniteResponses.Assert(await server.Segments.GetHistoryAsync(new GetHistoryRequest { CustomerId = id }));
        }
        FiniteResponses.Assert(await server.Segments.ListSegmentsAsync(new ListSegmentsRequest()));
        FiniteResponses.Assert(await server.Models.GetModelAsync(new GetModelRequest()));
        FiniteResponses.Assert(await server.Models.GetDriftAsync(new GetDriftRequest()));
        FiniteResponses.Assert(await server.Segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest()));
        FiniteResponses.Assert(await server.Segments.ForecastAsync(new ForecastRequest()));
    }

    [Fact]
    public async Task In_event_time_a_2100_event_and_one_ten_years_ahead_of_the_watermark_are_rejected_and_the_clock_stays()
    {
        await using var server = new EngineServer();
        await server.StartAsync();
        var data = Synthetic.Generate(customers: 50, seed: 32);
        await server.IngestAllAsync(data.Events, 500);
        var first = data.CustomerIds.First();
        var asOf = (await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = first })).AsOf;
        Assert.Equal(data.Watermark, asOf.ToDateTime());

        var response = await server.Ingest.IngestAsync(Synthetic.Request(
            Purchase("future", first, new DateTime(2100, 1, 1, 0, 0, 0, DateTimeKind.Utc), 10),
            Purchase("decade", first, data.Watermark.AddYears(10), 10),
            Purchase("year-1", first, new DateTime(1, 1, 1, 0, 0, 0, DateTimeKind.Utc), 10),
            Purchase("before-1970", first, new DateTime(1969, 12, 31, 0, 0, 0, DateTimeKind.Utc), 10),
            Purchase("a-year-on", first, data.Watermark.AddDays(365), 10)));

        // A real gap in history (a year) is accepted; the rest are rejected with the field named and why.
        Assert.Equal(1, response.Accepted);
        var reasons = response.Rejected.ToDictionary(r => r.EventId, r => r.Reason);
        Assert.Equal(["before-1970", "decade", "future", "year-1"], reasons.Keys.Order());
        Assert.All(reasons.Values, r => Assert.StartsWith("occurred_at:", r));
        Assert.Contains("wall clock", reasons["future"]);
        Assert.Contains("Engine:MaxWatermarkJump", reasons["decade"]);
        Assert.Contains("earliest", reasons["year-1"]);
        var customer = await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = first });
        Assert.Equal(data.Watermark.AddDays(365), customer.AsOf.ToDateTime());
    }

    [Fact]
    public async Task Oversized_and_odd_fields_are_rejected_with_the_field_named_and_nothing_of_them_is_stored()
    {
        await using var server = new EngineServer();
        await server.StartAsync();
        var at = new DateTime(1997, 3, 1, 0, 0, 0, DateTimeKind.Utc);
        var manyAttributes = Purchase("attrs", "odd", at, 1);
        for (var i = 0; i < 10_000; i++)
        {
            manyAttributes.Attributes[$"k{i}"] = "v";
        }
        var bigValue = Purchase("big-value", "odd", at, 1);
        bigValue.Attributes["note"] = new string('x', 1_000_000);
        var response = await server.Ingest.IngestAsync(Synthetic.Request(
            new Event(Purchase("cat", "odd", at, 1)) { Category = new string('c', 100_000) },
            manyAttributes,
            bigValue,
            Purchase("nul", "odd\0id", at, 1),
            Purchase("tab\tid", "odd", at, 1),
            Purchase("ok", "odd", at, 1)));

        Assert.Equal(1, response.Accepted);
        var reasons = response.Rejected.ToDictionary(r => r.Index, r => r.Reason);
        Assert.StartsWith("category:", reasons[0]);
        Assert.StartsWith("attributes:", reasons[1]);
        Assert.StartsWith("attributes[note]:", reasons[2]);
        Assert.StartsWith("customer_id:", reasons[3]);
        Assert.StartsWith("event_id:", reasons[4]);
        Assert.Equal(1, (await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "odd" })).EventCount);
    }

    [Fact]
    public async Task Another_customers_event_with_the_same_id_is_stored_and_a_retry_of_either_is_a_duplicate()
    {
        await using var server = new EngineServer();
        await server.StartAsync();
        var at = new DateTime(1997, 3, 1, 0, 0, 0, DateTimeKind.Utc);
        Assert.Equal(1, (await server.Ingest.IngestAsync(Synthetic.Request(Purchase("order-1", "alice", at, 10)))).Accepted);
        var bob = await server.Ingest.IngestAsync(Synthetic.Request(Purchase("order-1", "bob", at, 20)));
        Assert.Equal((1, 0), (bob.Accepted, bob.Duplicates));
        Assert.Equal(20, (await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "bob" })).Rfm.Monetary);

        var retry = await server.Ingest.IngestAsync(Synthetic.Request(Purchase("order-1", "alice", at, 10), Purchase("order-1", "bob", at, 20)));
        Assert.Equal((0, 2), (retry.Accepted, retry.Duplicates));
        Assert.Equal(10, (await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "alice" })).Rfm.Monetary);
    }

    [Fact]
    public async Task A_start_that_cannot_recover_exits_non_zero_with_the_reason_on_one_line()
    {
        var config = new EngineServer();
        // The log file is not a database: nothing can be recovered from it.
        await File.WriteAllTextAsync(Path.Combine(config.DataDirectory, "log.db"), new string('x', 8192));
        Assert.True(File.Exists(Path.Combine(config.DataDirectory, "log.db")));
        await using var process = new EngineProcess(config);
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(process.StartAsync);
        Assert.Contains("server exited with code 1", failure.Message);
        Assert.Contains(failure.Message.Split('\n'), line => line.StartsWith("engine: start-up failed: ", StringComparison.Ordinal));
    }
}
