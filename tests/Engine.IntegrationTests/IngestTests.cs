using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Engine.IntegrationTests;

/// <summary>Ingest and lookups over real gRPC against the real server on SQLite.</summary>
[Trait("Category", "Integration")]
public sealed class IngestTests : IAsyncLifetime
{
    private readonly EngineServer _server = new();

    public async Task InitializeAsync() => await _server.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task GetCustomer_returns_rfm_equal_to_a_direct_computation()
    {
        var data = Synthetic.Generate(customers: 300, seed: 1);
        foreach (var request in Synthetic.Batches(data.Events, 250))
        {
            var response = await _server.Ingest.IngestAsync(request);
            Assert.Equal(request.Events.Count, response.Accepted);
            Assert.Empty(response.Rejected);
        }

        var expected = data.Expected();
        var ids = data.CustomerIds.ToList();
        var batch = new BatchGetCustomersRequest();
        batch.CustomerIds.AddRange(ids);
        var customers = (await _server.Segments.BatchGetCustomersAsync(batch)).Customers;
        Assert.Equal(ids.Count, customers.Count);
        foreach (var c in customers)
        {
            var (recency, frequency, monetary) = expected[c.CustomerId];
            Assert.Equal(frequency, c.Rfm.Frequency);
            Assert.Equal(monetary, c.Rfm.Monetary, 0.005);
            Assert.Equal(recency, c.Rfm.RecencyDays, 1e-6);
            Assert.Equal(data.Watermark, c.AsOf.ToDateTime());
            Assert.Equal("unassigned", c.SegmentId);
            Assert.Equal(11, c.Features.Count);
        }
    }

    [Fact]
    public async Task Bad_events_are_rejected_by_index_with_the_field_named_and_the_rest_accepted()
    {
        var at = Timestamp.FromDateTime(new DateTime(1997, 3, 1, 0, 0, 0, DateTimeKind.Utc));
        Event Good(string id) => new() { EventId = id, CustomerId = "bad-input", Type = EventType.Purchase, OccurredAt = at, Amount = 10 };
        var request = new IngestRequest();
        request.Events.Add(Good("ok-1"));
        request.Events.Add(new Event(Good("e-cust")) { CustomerId = "" });
        request.Events.Add(new Event(Good("")));
        request.Events.Add(new Event(Good("e-long")) { CustomerId = new string('x', 257) });
        request.Events.Add(new Event(Good("e-time")) { OccurredAt = null });
        request.Events.Add(new Event(Good("e-type")) { Type = EventType.Unspecified });
        request.Events.Add(new Event(Good("e-nan")) { Amount = double.NaN });
        request.Events.Add(new Event(Good("e-inf")) { Amount = double.PositiveInfinity });
        request.Events.Add(new Event(Good("e-neg")) { Type = EventType.Refund, Amount = -5 });
        request.Events.Add(Good("ok-2"));

        var response = await _server.Ingest.IngestAsync(request);

        Assert.Equal(2, response.Accepted);
        var reasons = response.Rejected.ToDictionary(r => r.Index, r => r.Reason);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8], reasons.Keys.Order());
        Assert.StartsWith("customer_id:", reasons[1]);
        Assert.StartsWith("event_id:", reasons[2]);
        Assert.StartsWith("customer_id:", reasons[3]);
        Assert.StartsWith("occurred_at:", reasons[4]);
        Assert.StartsWith("type:", reasons[5]);
        Assert.StartsWith("amount:", reasons[6]);
        Assert.StartsWith("amount:", reasons[7]);
        Assert.StartsWith("amount:", reasons[8]);
        Assert.Equal("e-neg", response.Rejected.Single(r => r.Index == 8).EventId);

        var customer = await _server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "bad-input" });
        Assert.Equal(2, customer.Rfm.Frequency);
    }

    [Fact]
    public async Task A_request_of_more_than_10000_events_is_invalid_argument_and_nothing_is_applied()
    {
        var request = new IngestRequest();
        for (var i = 0; i < 10_001; i++)
        {
            request.Events.Add(new Event
            {
                EventId = $"big-{i}", CustomerId = "big", Type = EventType.Session,
                OccurredAt = Timestamp.FromDateTime(Synthetic.Start),
            });
        }
        var error = await Assert.ThrowsAsync<RpcException>(() => _server.Ingest.IngestAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("events:", error.Status.Detail);
        var missing = await Assert.ThrowsAsync<RpcException>(() => _server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "big" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task A_resent_event_id_is_a_duplicate_and_counts_once()
    {
        var data = Synthetic.Generate(customers: 20, seed: 2, prefix: "dup");
        var request = Synthetic.Batches(data.Events, 10_000).Single();
        var first = await _server.Ingest.IngestAsync(request);
        var again = await _server.Ingest.IngestAsync(request);
        Assert.Equal(request.Events.Count, first.Accepted);
        Assert.Equal(0, again.Accepted);
        Assert.Equal(request.Events.Count, again.Duplicates);

        // A repeat inside one request is a duplicate too.
        var twice = new IngestRequest();
        var e = new Event { EventId = "twice", CustomerId = "dup-twice", Type = EventType.Purchase, OccurredAt = Timestamp.FromDateTime(Synthetic.Start), Amount = 3 };
        twice.Events.Add(e);
        twice.Events.Add(e);
        var response = await _server.Ingest.IngestAsync(twice);
        Assert.Equal((1, 1), (response.Accepted, response.Duplicates));

        var expected = data.Expected();
        foreach (var id in data.CustomerIds)
        {
            var c = await _server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
            Assert.Equal(expected[id].Frequency, c.Rfm.Frequency);
        }
        Assert.Equal(1, (await _server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "dup-twice" })).Rfm.Frequency);
    }

    [Fact]
    public async Task IngestStream_answers_every_request_in_order()
    {
        var data = Synthetic.Generate(customers: 60, seed: 3, prefix: "stream");
        var requests = Synthetic.Batches(data.Events, 37).ToList();
        using var call = _server.Ingest.IngestStream();
        var reading = Task.Run(async () =>
        {
            var responses = new List<IngestResponse>();
            await foreach (var r in call.ResponseStream.ReadAllAsync())
            {
                responses.Add(r);
            }
            return responses;
        });
        foreach (var r in requests)
        {
            await call.RequestStream.WriteAsync(r);
        }
        await call.RequestStream.CompleteAsync();
        var responses = await reading;

        Assert.Equal(requests.Count, responses.Count);
        for (var i = 0; i < requests.Count; i++)
        {
            Assert.Equal(requests[i].Events.Count, responses[i].Accepted);
        }
        // Log positions only grow: responses come back in request order.
        Assert.True(responses.Zip(responses.Skip(1)).All(p => p.First.LastSequence < p.Second.LastSequence));
    }

    [Fact]
    public async Task Lookups_name_the_bad_field_and_unknown_customers_are_not_found()
    {
        var notFound = await Assert.ThrowsAsync<RpcException>(() => _server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "nobody" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, notFound.StatusCode);
        var empty = await Assert.ThrowsAsync<RpcException>(() => _server.Segments.GetCustomerAsync(new GetCustomerRequest()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        Assert.StartsWith("customer_id:", empty.Status.Detail);

        var tooMany = new BatchGetCustomersRequest();
        tooMany.CustomerIds.AddRange(Enumerable.Range(0, 1001).Select(i => $"x{i}"));
        var error = await Assert.ThrowsAsync<RpcException>(() => _server.Segments.BatchGetCustomersAsync(tooMany).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith("customer_ids:", error.Status.Detail);

        var history = await Assert.ThrowsAsync<RpcException>(() => _server.Segments.GetHistoryAsync(new GetHistoryRequest { CustomerId = "nobody" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, history.StatusCode);
    }
}
