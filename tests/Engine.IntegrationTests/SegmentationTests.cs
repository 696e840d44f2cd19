using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Engine.IntegrationTests;

/// <summary>Automatic first training, assignment on every event, retraining, over real gRPC and SQLite.</summary>
[Trait("Category", "Integration")]
public sealed class SegmentationTests : IAsyncLifetime
{
    private readonly EngineServer _server = new(settings: new() { ["Engine:AutoTrainMinCustomers"] = "300", ["Engine:DefaultK"] = "3" });

    public async Task InitializeAsync() => await _server.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task The_first_model_trains_itself_and_every_customer_gets_a_segment_with_a_history()
    {
        var data = Synthetic.Generate(customers: 450, seed: 11);
        await _server.IngestAllAsync(data.Events, 500);
        var ids = data.CustomerIds.ToList();
        var version = await Population.WaitForModelAsync(_server, customers: ids.Count);
        Assert.Equal(1, version);

        var segments = await _server.Segments.ListSegmentsAsync(new ListSegmentsRequest());
        Assert.Equal(3, segments.Segments.Count);
        Assert.Equal(ids.Count, segments.Segments.Sum(s => s.Size));
        Assert.All(segments.Segments, s => Assert.Equal(11, s.Centroid.Count));
        Assert.Equal(3, segments.Segments.Select(s => s.Name).Distinct().Count());

        var customers = await Population.CustomersAsync(_server, ids);
        Assert.All(customers, c => Assert.NotEqual("unassigned", c.SegmentId));
        Assert.All(customers, c => Assert.Equal(1, c.ModelVersion));
        // The generator's three behaviours are three clusters: each lands in one segment.
        foreach (var behaviour in customers.GroupBy(c => int.Parse(c.CustomerId[1..]) % 3))
        {
            Assert.Single(behaviour.Select(c => c.SegmentId).Distinct());
        }
        await Population.AssertMatrixMatchesHistoriesAsync(_server, ids);

        // A one-off buyer who starts buying big and often moves on the event that does it.
        var mover = ids.First(id => int.Parse(id[1..]) % 3 == 1);
        var before = customers.Single(c => c.CustomerId == mover).SegmentId;
        var bigSpender = customers.First(c => int.Parse(c.CustomerId[1..]) % 3 == 0).SegmentId;
        var burst = new IngestRequest();
        for (var i = 0; i < 14; i++)
        {
            burst.Events.Add(new Event
            {
                EventId = $"burst-{i}", CustomerId = mover, Type = EventType.Purchase, Amount = 180 + i,
                OccurredAt = Timestamp.FromDateTime(Synthetic.Start.AddDays(400 + 10 * i)), Category = $"cat{i % 5}",
            });
        }
        burst.Events.Add(new Event
        {
            EventId = "burst-refund", CustomerId = mover, Type = EventType.Refund, Amount = 40,
            OccurredAt = Timestamp.FromDateTime(Synthetic.Start.AddDays(500)),
        });
        await _server.Ingest.IngestAsync(burst);
        var after = await _server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = mover });
        Assert.NotEqual(before, after.SegmentId);
        Assert.Equal(bigSpender, after.SegmentId);
        var history = (await _server.Segments.GetHistoryAsync(new GetHistoryRequest { CustomerId = mover })).Transitions;
        Assert.Equal(Cause.Event, history[0].Cause);
        Assert.Equal(before, history[0].FromSegmentId);
        Assert.Equal(after.SegmentId, history[0].ToSegmentId);
        Assert.Equal(Cause.Retrain, history[^1].Cause);
        Assert.Equal("unassigned", history[^1].FromSegmentId);
        Assert.Single((await _server.Segments.GetHistoryAsync(new GetHistoryRequest { CustomerId = mover, Limit = 1 })).Transitions);
        await Population.AssertMatrixMatchesHistoriesAsync(_server, ids);

        // A manual retrain publishes version 2 and keeps the segment ids of matching clusters.
        var retrain = await _server.Models.RetrainAsync(new RetrainRequest { K = 3 });
        Assert.Equal(2, retrain.ModelVersion);
        Assert.Equal(ids.Count, retrain.Customers);
        Assert.True(retrain.Iterations >= 1);
        var model = await _server.Models.GetModelAsync(new GetModelRequest());
        Assert.Equal(2, model.Version);
        Assert.Equal("manual", model.Reason);
        Assert.Equal(segments.Segments.Select(s => s.SegmentId).Order(), model.Segments.Select(s => s.SegmentId).Order());
        var sizes = await _server.Segments.ListSegmentsAsync(new ListSegmentsRequest());
        Assert.Equal(ids.Count, sizes.Segments.Sum(s => s.Size));
        await Population.AssertMatrixMatchesHistoriesAsync(_server, ids);
    }

    [Fact]
    public async Task Retraining_on_unchanged_data_keeps_ids_and_names_and_moves_no_one()
    {
        var data = Synthetic.Generate(customers: 450, seed: 12);
        await _server.IngestAllAsync(data.Events, 1000);
        var ids = data.CustomerIds.ToList();
        await Population.WaitForModelAsync(_server, customers: ids.Count);
        // The automatic model may have seen only part of the data: retrain once on all of it, then twice more.
        var first = await _server.Models.RetrainAsync(new RetrainRequest { K = 3 });
        var segments = await _server.Segments.ListSegmentsAsync(new ListSegmentsRequest());
        var histories = await Population.HistoriesAsync(_server, ids);
        for (var again = 1; again <= 2; again++)
        {
            var retrain = await _server.Models.RetrainAsync(new RetrainRequest { K = 3 });
            Assert.Equal(first.ModelVersion + again, retrain.ModelVersion);
            Assert.Equal(0, retrain.Reassigned);
            var now = await _server.Segments.ListSegmentsAsync(new ListSegmentsRequest());
            Assert.Equal(segments.Segments.Select(x => (x.SegmentId, x.Name, x.Size)), now.Segments.Select(x => (x.SegmentId, x.Name, x.Size)));
            Assert.Equal(histories, await Population.HistoriesAsync(_server, ids));
        }
        var customers = await Population.CustomersAsync(_server, ids);
        Assert.All(customers, c => Assert.Equal(first.ModelVersion + 2, c.ModelVersion));
        await Population.AssertMatrixMatchesHistoriesAsync(_server, ids);
    }

    [Fact]
    public async Task Customers_carry_a_soft_membership()
    {
        var data = Synthetic.Generate(customers: 330, seed: 13);
        await _server.IngestAllAsync(data.Events, 1000);
        await Population.WaitForModelAsync(_server, customers: data.CustomerIds.Count());
        var customers = await Population.CustomersAsync(_server, data.CustomerIds);
        Assert.All(customers, c =>
        {
            Assert.InRange(c.Confidence, 1.0 / 3, 1.0);
            Assert.NotEqual(c.SegmentId, c.SecondSegmentId);
            Assert.NotEqual("", c.SecondSegmentId);
            Assert.True(c.Margin >= 0);
        });
        // Well inside a cluster means confident; the generator's clusters are tight.
        Assert.True(customers.Average(c => c.Confidence) > 0.8);
    }

    [Fact]
    public async Task Retrain_rejects_a_bad_k_and_a_too_small_population()
    {
        var bad = await Assert.ThrowsAsync<RpcException>(() => _server.Models.RetrainAsync(new RetrainRequest { K = 1 }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => _server.Models.RetrainAsync(new RetrainRequest { K = 51 }).ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.StartsWith("k:", bad.Status.Detail);
        var tooFew = await Assert.ThrowsAsync<RpcException>(() => _server.Models.RetrainAsync(new RetrainRequest { K = 50 }).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, tooFew.StatusCode);
    }
}
