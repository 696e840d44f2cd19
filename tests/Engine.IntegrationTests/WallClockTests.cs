using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Engine.IntegrationTests;

/// <summary>Wall-clock mode (the default) and the request size limit.</summary>
[Trait("Category", "Integration")]
public sealed class WallClockTests : IAsyncLifetime
{
    private readonly EngineServer _server = new(settings: new() { ["Engine:Clock"] = "wall" });

    public async Task InitializeAsync() => await _server.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Events_more_than_a_day_ahead_are_rejected_and_as_of_is_now()
    {
        var now = DateTime.UtcNow;
        var request = new IngestRequest();
        request.Events.Add(new Event { EventId = "w-ok", CustomerId = "wall", Type = EventType.Purchase, Amount = 5, OccurredAt = Timestamp.FromDateTime(now.AddHours(-2)) });
        request.Events.Add(new Event { EventId = "w-soon", CustomerId = "wall", Type = EventType.Purchase, Amount = 5, OccurredAt = Timestamp.FromDateTime(now.AddHours(20)) });
        request.Events.Add(new Event { EventId = "w-future", CustomerId = "wall", Type = EventType.Purchase, Amount = 5, OccurredAt = Timestamp.FromDateTime(now.AddDays(2)) });
        var response = await _server.Ingest.IngestAsync(request);
        Assert.Equal(2, response.Accepted);
        var rejection = Assert.Single(response.Rejected);
        Assert.Equal(2, rejection.Index);
        Assert.StartsWith("occurred_at:", rejection.Reason);

        var customer = await _server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "wall" });
        Assert.InRange(customer.AsOf.ToDateTime(), now.AddSeconds(-1), DateTime.UtcNow.AddSeconds(1));
        Assert.Equal(2, customer.Rfm.Frequency);
    }

    [Fact]
    public async Task A_request_over_the_size_limit_is_invalid_argument_and_nothing_is_applied()
    {
        var request = new IngestRequest();
        var padding = new string('p', 4096);
        for (var i = 0; i < 5000; i++)
        {
            var e = new Event { EventId = $"size-{i}", CustomerId = "size", Type = EventType.Session, OccurredAt = Timestamp.FromDateTime(DateTime.UtcNow) };
            e.Attributes["note"] = padding;
            request.Events.Add(e);
        }
        var error = await Assert.ThrowsAsync<RpcException>(() => _server.Ingest.IngestAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("bytes", error.Status.Detail);
        var missing = await Assert.ThrowsAsync<RpcException>(() => _server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "size" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Health_and_metrics_answer_on_their_ports_and_metrics_leave_out_per_call_instruments()
    {
        var health = new Grpc.Health.V1.Health.HealthClient(_server.Channel);
        var status = await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest());
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, status.Status);
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync($"{_server.HttpAddress}/metrics");
        Assert.Contains("engine_events_accepted_total", metrics);

        // The first scrape started forwarding .NET meters; grain calls after it must not feed Orleans' per-call
        // instruments into /metrics (they cost every call), while its activation gauge and grain counts are there.
        var request = new IngestRequest();
        request.Events.Add(new Event { EventId = "metrics-1", CustomerId = "metrics", Type = EventType.Purchase, Amount = 5, OccurredAt = Timestamp.FromDateTime(DateTime.UtcNow) });
        await _server.Ingest.IngestAsync(request);
        await _server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "metrics" });
        metrics = await http.GetStringAsync($"{_server.HttpAddress}/metrics");
        Assert.Contains("microsoft_orleans_orleans_catalog_activations", metrics);
        Assert.Contains("microsoft_orleans_orleans_grains", metrics);
        Assert.DoesNotContain("microsoft_orleans_orleans_app_requests_latency", metrics);
        Assert.DoesNotContain("microsoft_orleans_orleans_directory_lookups_", metrics);
        // Nor Polly's, recorded as Orleans places each activation (the ingest above activated the customer after the scrape).
        Assert.DoesNotContain("resilience_polly", metrics);
    }
}
