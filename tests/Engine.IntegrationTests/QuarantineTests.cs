using Engine.Core;
using System.Collections.Concurrent;
using Engine.Abstractions;
using Engine.Api.V1;
using Engine.Grains;
using Engine.Storage;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.IntegrationTests;

/// <summary>
/// An event its customer cannot apply goes to the quarantine: ingest and recovery go on, and an operator replays or
/// discards it through AdminService. The event at fault comes through the test seam <see cref="IEventApplyFault"/>.
/// </summary>
[Trait("Category", "Integration")]
public sealed class QuarantineTests
{
    /// <summary>Events with these ids cannot be applied, as an event that no customer could apply.</summary>
    private sealed class Poison : IEventApplyFault
    {
        public ConcurrentDictionary<string, bool> EventIds { get; } = new();

        public void Check(LoggedEvent e)
        {
            if (EventIds.ContainsKey(e.EventId))
            {
                throw new InvalidOperationException($"poisoned event {e.EventId} (test fault)");
            }
        }
    }

    [Fact]
    public async Task An_event_its_customer_cannot_apply_is_quarantined_ingest_and_restarts_go_on_and_admin_replays_or_discards_it()
    {
        var poison = new Poison();
        poison.EventIds["p-live"] = true;
        poison.EventIds["p-log"] = true;
        var server = new EngineServer(
            settings: new() { ["Engine:CheckpointInterval"] = "00:10:00", ["Engine:CheckpointEvery"] = "1000" },
            configure: b => b.Services.AddSingleton<IEventApplyFault>(poison));
        await server.StartAsync();
        var data = Synthetic.Generate(customers: 200, seed: 41);
        await server.IngestAllAsync(data.Events, 400);
        await server.Models.RetrainAsync(new RetrainRequest { K = 3 });
        var (x, y, at) = (data.CustomerIds.First(), data.CustomerIds.Last(), data.Watermark);
        var (xBefore, yBefore) = (await FrequencyAsync(server, x), await FrequencyAsync(server, y));
        var quarantinedBefore = await QuarantinedMetricAsync(server);

        // Live: the event is accepted (it is durable), its customer moves past it, and the request succeeds.
        var response = await server.Ingest.IngestAsync(Synthetic.Request(Purchase("p-live", x, at), Purchase("ok-1", x, at), Purchase("ok-2", y, at)));
        Assert.Equal(3, response.Accepted);
        Assert.Equal(xBefore + 1, await FrequencyAsync(server, x));
        Assert.Equal(yBefore + 1, await FrequencyAsync(server, y));
        var held = Assert.Single((await ListAsync(server, includeDiscarded: false)));
        Assert.Equal(("p-live", x), (held.Event.EventId, held.Event.CustomerId));
        Assert.Contains("poisoned event p-live", held.Error);
        var pLive = held.LogPosition;
        // At least: the metric is the process's, and other tests' servers may run beside this one.
        Assert.True(await QuarantinedMetricAsync(server) >= quarantinedBefore + 1);
        // Ingest goes on, for that customer too.
        Assert.Equal(1, (await server.Ingest.IngestAsync(Synthetic.Request(Purchase("ok-3", x, at)))).Accepted);
        Assert.Equal(xBefore + 2, await FrequencyAsync(server, x));

        // Recovery: an event in the log's tail that its customer cannot apply (written behind the stopped server's
        // back, as a crash right after a commit leaves one) is quarantined by the replay, and the start comes up healthy.
        await server.StopAsync();
        await AppendAsync(server.DataDirectory, new PendingEvent("p-log", y, EventKind.Purchase, at, 5, null, null));
        await server.StartAsync();
        var pending = await ListAsync(server, includeDiscarded: false);
        Assert.Equal(["p-live", "p-log"], pending.Select(q => q.Event.EventId));
        var pLog = pending[1].LogPosition;
        Assert.Equal(yBefore + 1, await FrequencyAsync(server, y));

        // Replay once the cause is gone: the event applies, once.
        poison.EventIds.TryRemove("p-live", out _);
        var replayed = await server.Admin.ReplayQuarantinedEventAsync(new ReplayQuarantinedEventRequest { LogPosition = pLive });
        Assert.Equal(xBefore + 3, replayed.Customer.Rfm.Frequency);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(async () =>
            await server.Admin.ReplayQuarantinedEventAsync(new ReplayQuarantinedEventRequest { LogPosition = pLive }))).StatusCode);

        // A replay that fails again leaves the event quarantined, with the error; a discard keeps it for the record only.
        var again = await Assert.ThrowsAsync<RpcException>(async () =>
            await server.Admin.ReplayQuarantinedEventAsync(new ReplayQuarantinedEventRequest { LogPosition = pLog }));
        Assert.Equal(StatusCode.FailedPrecondition, again.StatusCode);
        Assert.Contains("poisoned event p-log", again.Status.Detail);
        var discarded = await server.Admin.DiscardQuarantinedEventAsync(new DiscardQuarantinedEventRequest { LogPosition = pLog });
        Assert.NotNull(discarded.DiscardedAt);
        Assert.Empty(await ListAsync(server, includeDiscarded: false));
        Assert.Equal("p-log", Assert.Single(await ListAsync(server, includeDiscarded: true)).Event.EventId);
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(async () =>
            await server.Admin.ReplayQuarantinedEventAsync(new ReplayQuarantinedEventRequest { LogPosition = pLog }))).StatusCode);

        // A restart keeps all of it: the replayed event counted once, the discarded one never.
        poison.EventIds.Clear();
        await server.StopAsync();
        await server.StartAsync();
        Assert.Equal(xBefore + 3, await FrequencyAsync(server, x));
        Assert.Equal(yBefore + 1, await FrequencyAsync(server, y));
        Assert.Single(await ListAsync(server, includeDiscarded: true));
        await server.StopAsync();
    }

    [Fact]
    public async Task Quarantine_pages_add_up_and_a_bad_page_token_is_invalid_argument()
    {
        var poison = new Poison();
        var ids = Enumerable.Range(0, 7).Select(i => $"bad-{i}").ToList();
        foreach (var id in ids)
        {
            poison.EventIds[id] = true;
        }
        await using var server = new EngineServer(configure: b => b.Services.AddSingleton<IEventApplyFault>(poison));
        await server.StartAsync();
        var at = new DateTime(1997, 5, 1, 0, 0, 0, DateTimeKind.Utc);
        await server.Ingest.IngestAsync(Synthetic.Request([.. ids.Select((id, i) => Purchase(id, $"c{i % 3}", at)), Purchase("fine", "c0", at)]));

        var seen = new List<string>();
        var request = new ListQuarantinedEventsRequest { PageSize = 3 };
        do
        {
            var page = await server.Admin.ListQuarantinedEventsAsync(request);
            Assert.InRange(page.Events.Count, 1, 3);
            seen.AddRange(page.Events.Select(e => e.Event.EventId));
            request.PageToken = page.NextPageToken;
        }
        while (request.PageToken.Length > 0);
        Assert.Equal(ids, seen);
        Assert.Equal(1, await FrequencyAsync(server, "c0"));
        var bad = await Assert.ThrowsAsync<RpcException>(async () =>
            await server.Admin.ListQuarantinedEventsAsync(new ListQuarantinedEventsRequest { PageToken = "nope" }));
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.StartsWith("page_token:", bad.Status.Detail);
    }

    private static async Task<List<QuarantinedEvent>> ListAsync(EngineServer server, bool includeDiscarded) =>
        [.. (await server.Admin.ListQuarantinedEventsAsync(new ListQuarantinedEventsRequest { IncludeDiscarded = includeDiscarded, PageSize = 1000 })).Events];

    private static async Task<double> QuarantinedMetricAsync(EngineServer server)
    {
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync($"{server.HttpAddress}/metrics");
        var line = metrics.Split('\n').Single(l => l.StartsWith("engine_events_quarantined_total ", StringComparison.Ordinal));
        return double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<long> FrequencyAsync(EngineServer server, string id) =>
        (await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = id })).Rfm.Frequency;

    private static async Task AppendAsync(string dataDirectory, PendingEvent e)
    {
        var database = new SqliteDatabase(dataDirectory);
        using var log = new SqliteEventLog(database, new TransitionSignal());
        var head = await log.GetHeadAsync();
        await log.AppendAsync([e], head.MaxAsOf!.Value.AddTicks(1), modelVersion: 1);
    }

    private static Event Purchase(string eventId, string customerId, DateTime at) => Synthetic.NewEvent(eventId, customerId, EventType.Purchase, at, 5);
}
