using Engine.Api.V1;

namespace Engine.ProcessTests;

/// <summary>Restarts and kill -9: nothing acknowledged is lost or counted twice; histories and the model survive.</summary>
[Trait("Category", "Process")]
public sealed class DurabilityTests
{
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Engine:AutoTrainMinCustomers"] = "200",
        ["Engine:DefaultK"] = "3",
        // Long enough that the kill lands between checkpoints: recovery must replay the log.
        ["Engine:CheckpointInterval"] = "00:10:00",
        ["Engine:CheckpointEvery"] = "1000",
    };

    [Fact]
    public async Task A_graceful_restart_keeps_customers_histories_and_the_model()
    {
        var data = Synthetic.Generate(customers: 300, seed: 21);
        var server = new EngineServer(settings: Settings);
        await server.StartAsync();
        await server.IngestAllAsync(data.Events, 400);
        var ids = data.CustomerIds.ToList();
        await Population.WaitForModelAsync(server, customers: ids.Count);
        var before = await Population.CustomersAsync(server, ids);
        var historiesBefore = await Population.HistoriesAsync(server, ids);
        await server.StopAsync();

        await server.StartAsync();
        await AssertSameAsync(server, data, before, historiesBefore);
        await server.StopAsync();
    }

    [Fact]
    public async Task SIGTERM_under_load_finishes_what_was_accepted_refuses_the_rest_cleanly_and_loses_nothing()
    {
        var data = Synthetic.Generate(customers: 1500, seed: 24);
        var config = new EngineServer(settings: Settings);
        await using var process = new EngineProcess(config);
        await process.StartAsync();
        var requests = Synthetic.Batches(data.Events, 40).ToList();
        var acked = new System.Collections.Concurrent.ConcurrentBag<int>();
        var refused = new System.Collections.Concurrent.ConcurrentBag<Grpc.Core.StatusCode>();
        var next = -1;
        var stopping = Task.FromResult(-1);
        async Task Client()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests.Count)
            {
                if (i == requests.Count / 4)
                {
                    stopping = process.TerminateAsync();
                }
                try
                {
                    var response = await config.Ingest.IngestAsync(requests[i]);
                    Assert.Equal(requests[i].Events.Count, response.Accepted);
                    acked.Add(i);
                }
                catch (Grpc.Core.RpcException e)
                {
                    refused.Add(e.StatusCode);
                    return;
                }
            }
        }
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(Client)));
        // A clean exit, and whatever was refused was refused as "try again", never as an internal error.
        Assert.Equal(0, await stopping);
        Assert.NotEmpty(acked);
        Assert.NotEmpty(refused);
        Assert.All(refused, code => Assert.Equal(Grpc.Core.StatusCode.Unavailable, code));

        // After the restart every acknowledged request is a duplicate, and sending everything gives the exact answer.
        await config.StopAsync();
        await process.StartAsync();
        foreach (var i in acked)
        {
            Assert.Equal(requests[i].Events.Count, (await config.Ingest.IngestAsync(requests[i])).Duplicates);
        }
        foreach (var request in requests)
        {
            await config.Ingest.IngestAsync(request);
        }
        var expected = data.Expected();
        foreach (var customer in await Population.CustomersAsync(config, data.CustomerIds))
        {
            Assert.Equal(expected[customer.CustomerId].Frequency, customer.Rfm.Frequency);
        }
    }

    [Fact]
    public async Task Kill_minus_9_right_after_an_acknowledged_request_loses_nothing_and_counts_nothing_twice()
    {
        var data = Synthetic.Generate(customers: 300, seed: 22);
        var config = new EngineServer(settings: Settings);
        await using var process = new EngineProcess(config);
        await process.StartAsync();
        var requests = Synthetic.Batches(data.Events, 400).ToList();
        var half = requests.Count / 2;
        foreach (var request in requests.Take(half))
        {
            await config.Ingest.IngestAsync(request);
        }
        await Population.WaitForModelAsync(config);
        foreach (var request in requests.Skip(half))
        {
            var response = await config.Ingest.IngestAsync(request);
            Assert.Equal(request.Events.Count, response.Accepted);
        }
        var ids = data.CustomerIds.ToList();
        await Population.WaitForModelAsync(config, customers: ids.Count);
        var before = await Population.CustomersAsync(config, ids);
        var historiesBefore = await Population.HistoriesAsync(config, ids);

        // One more acknowledged request, then SIGKILL straight after the ack.
        var last = Synthetic.Generate(customers: 30, seed: 23, prefix: "late");
        var lastRequest = Synthetic.Batches(last.Events, 10_000).Single();
        Assert.Equal(lastRequest.Events.Count, (await config.Ingest.IngestAsync(lastRequest)).Accepted);
        process.Kill();
        await config.StopAsync();

        await process.StartAsync();
        await AssertSameAsync(config, data, before, historiesBefore);
        var lateExpected = last.Expected();
        foreach (var c in await Population.CustomersAsync(config, last.CustomerIds))
        {
            Assert.Equal(lateExpected[c.CustomerId].Frequency, c.Rfm.Frequency);
            Assert.Equal(lateExpected[c.CustomerId].Monetary, c.Rfm.Monetary, 0.005);
        }

        // Re-sending everything after the restart changes nothing.
        foreach (var request in requests.Append(lastRequest))
        {
            var again = await config.Ingest.IngestAsync(request);
            Assert.Equal((0, request.Events.Count), (again.Accepted, again.Duplicates));
        }
        await AssertSameAsync(config, data, before, historiesBefore);
        var all = ids.Concat(last.CustomerIds).ToList();
        var sizes = await config.Segments.ListSegmentsAsync(new ListSegmentsRequest());
        Assert.Equal(all.Count, sizes.Segments.Sum(s => s.Size));
        await Population.AssertMatrixMatchesHistoriesAsync(config, all);
    }

    private static async Task AssertSameAsync(EngineServer server, Synthetic data, List<Customer> before, Dictionary<string, List<Transition>> historiesBefore)
    {
        var ids = data.CustomerIds.ToList();
        var expected = data.Expected();
        var after = (await Population.CustomersAsync(server, ids)).ToDictionary(c => c.CustomerId);
        foreach (var b in before)
        {
            var a = after[b.CustomerId];
            Assert.Equal(expected[b.CustomerId].Frequency, a.Rfm.Frequency);
            Assert.Equal(expected[b.CustomerId].Monetary, a.Rfm.Monetary, 0.005);
            Assert.True(b.SegmentId == a.SegmentId, $"{b.CustomerId}: {b.SegmentId} before, {a.SegmentId} after; history before: {string.Join(" | ", historiesBefore[b.CustomerId].Select(h => $"{h.FromSegmentId}->{h.ToSegmentId} {h.Cause} {h.At.ToDateTime():O} v{h.ModelVersion}"))}; after: {string.Join(" | ", (await Population.HistoriesAsync(server, [b.CustomerId]))[b.CustomerId].Select(h => $"{h.FromSegmentId}->{h.ToSegmentId} {h.Cause} {h.At.ToDateTime():O} v{h.ModelVersion}"))}");
            Assert.Equal(b.ModelVersion, a.ModelVersion);
        }
        var histories = await Population.HistoriesAsync(server, ids);
        foreach (var (id, h) in historiesBefore)
        {
            Assert.Equal(h, histories[id]);
        }
        var model = await server.Models.GetModelAsync(new GetModelRequest());
        Assert.Equal(before[0].ModelVersion, model.Version);
    }
}
