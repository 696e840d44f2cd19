using Engine.Abstractions;
using Engine.Api.V1;
using Engine.Core;
using Engine.Grains;
using Engine.Server.Grpc;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.IntegrationTests;

/// <summary>
/// The silo's lookup cache (lookups of warm customers without a grain call): it answers what the grain answers, and no
/// lookup after a change reads the customer from before it. Event-time clock, so two views of the same state are equal.
/// </summary>
[Trait("Category", "Integration")]
public sealed class LookupCacheTests : IAsyncLifetime
{
    private readonly EngineServer _server = new(settings: new() { ["Engine:AutoTrainMinCustomers"] = "300", ["Engine:DefaultK"] = "3" });

    public async Task InitializeAsync() => await _server.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private CustomerLookupCache Cache => _server.Services.GetRequiredService<CustomerLookupCache>();

    private Task<Customer> LookUpAsync(string id) => _server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }).ResponseAsync;

    /// <summary>Looks the customer up through gRPC, then checks that the cache holds it and answers the same.</summary>
    private async Task<Customer> LookUpAndCompareAsync(string id)
    {
        var answer = await LookUpAsync(id);
        Assert.True(Cache.TryView(id, out var cached), $"{id} left no entry");
        Assert.Equal(answer, cached!.ToProto());
        return answer;
    }

    [Fact]
    public async Task The_cache_answers_as_the_grain_and_every_change_withdraws_the_entry()
    {
        var data = Synthetic.Generate(customers: 330, seed: 31);
        await _server.IngestAllAsync(data.Events, 1000);
        var ids = data.CustomerIds.ToList();
        var version = await Population.WaitForModelAsync(_server, customers: ids.Count);
        // A one-off buyer (the generator's second behaviour), whom a burst of large purchases moves to the big spenders.
        var id = ids.First(i => int.Parse(i[1..]) % 3 == 1);
        var bigSpenders = (await LookUpAsync(ids.First(i => int.Parse(i[1..]) % 3 == 0))).SegmentId;
        Assert.False(Cache.TryView(id, out _));

        var first = await LookUpAndCompareAsync(id);
        Assert.Equal(first, await LookUpAsync(id));
        Assert.NotEqual(bigSpenders, first.SegmentId);

        // Ingest (within the history's time, so the clock and no sweep move): the acknowledged events are in the next lookup.
        var burst = Enumerable.Range(0, 14)
            .Select(i => Synthetic.NewEvent($"lc-{i}", id, EventType.Purchase, Synthetic.Start.AddDays(400 + 10 * i), 180 + i, $"cat{i % 5}"));
        await _server.Ingest.IngestAsync(Synthetic.Request([.. burst]));
        Assert.False(Cache.TryView(id, out _));
        var afterEvents = await LookUpAndCompareAsync(id);
        Assert.Equal(first.EventCount + 14, afterEvents.EventCount);
        Assert.Equal(bigSpenders, afterEvents.SegmentId);

        // A sweep and a recovery (calls that can change the customer) withdraw it too.
        var grain = _server.Services.GetRequiredService<CustomerGrains>();
        await grain.Get(id).SweepAsync(Synthetic.Start.AddDays(900));
        Assert.False(Cache.TryView(id, out _));
        await LookUpAndCompareAsync(id);
        await grain.RecoverAsync(id);
        Assert.False(Cache.TryView(id, out _));
        await LookUpAndCompareAsync(id);
        await grain.Get(id).ReassignAsync(version);
        Assert.False(Cache.TryView(id, out _));
        await LookUpAndCompareAsync(id);
        // An operator's replay of an event the customer does not hold changes nothing, but withdraws first all the same.
        Assert.Null(await grain.Get(id).ReplayQuarantinedAsync(
            new LoggedEvent(1, "not-held", id, EventKind.Purchase, Synthetic.Start, 1, null, Synthetic.Start, 0)));
        Assert.False(Cache.TryView(id, out _));

        // A newer model: the entry of the older one is not used; the grain answers under the new one and publishes again,
        // unless the customer is still behind it (its rollout has not reached it and the model does not keep it).
        await LookUpAndCompareAsync(id);
        var retrain = await _server.Models.RetrainAsync(new RetrainRequest { K = 3 });
        Assert.True(retrain.ModelVersion > version);
        Assert.False(Cache.TryView(id, out _));
        var current = new List<string>();
        foreach (var customer in ids.Take(60))
        {
            var answer = await LookUpAsync(customer);
            Assert.Equal(answer.ModelVersion >= retrain.ModelVersion, Cache.TryView(customer, out var cached));
            if (cached is not null)
            {
                Assert.Equal(answer, cached.ToProto());
                current.Add(customer);
            }
        }

        // Deactivation withdraws it; the next lookup activates the customer from its checkpoint, as it was.
        var other = current.First(c => c != id);
        var before = await LookUpAndCompareAsync(other);
        await _server.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.False(Cache.TryView(other, out _));
        Assert.Equal(before, await LookUpAndCompareAsync(other));

        // Erasure: gone, not served from the cache.
        await _server.Admin.EraseCustomerAsync(new EraseCustomerRequest { CustomerId = id });
        Assert.False(Cache.TryView(id, out _));
        var missing = await Assert.ThrowsAsync<RpcException>(() => LookUpAsync(id));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Lookups_racing_ingest_never_read_a_customer_from_before_an_acknowledged_event()
    {
        const string id = "racer";
        var fromCache = EngineMetrics.LookupsFromCache.Value;
        var done = new CancellationTokenSource();
        var acknowledged = 0L;
        var readers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            var (seen, reads) = (0L, 0);
            while (!done.IsCancellationRequested)
            {
                var floor = Interlocked.Read(ref acknowledged);
                if (floor == 0)
                {
                    await Task.Yield();
                    continue;
                }
                var customer = await LookUpAsync(id);
                Assert.True(customer.EventCount >= floor, $"read {customer.EventCount} events after {floor} were acknowledged");
                Assert.True(customer.EventCount >= seen, $"read {customer.EventCount} events after reading {seen}");
                Assert.Equal(customer.EventCount, customer.Rfm.Frequency);
                seen = customer.EventCount;
                reads++;
            }
            return reads;
        })).ToArray();

        for (var i = 1; i <= 150; i++)
        {
            await _server.Ingest.IngestAsync(Synthetic.Request(Synthetic.NewEvent($"race-{i}", id, EventType.Purchase, Synthetic.Start.AddDays(i), 10)));
            Interlocked.Exchange(ref acknowledged, i);
            var mine = await LookUpAsync(id);
            Assert.Equal(i, mine.EventCount);
        }
        await done.CancelAsync();
        var reads = await Task.WhenAll(readers);
        Assert.All(reads, r => Assert.True(r > 0));
        // Some of them were the cache's (between one acknowledgement and the next change).
        Assert.True(EngineMetrics.LookupsFromCache.Value > fromCache);
    }
}
