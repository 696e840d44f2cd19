using System.Collections.Concurrent;
using CsCheck;
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Xunit.Abstractions;

namespace Engine.ProcessTests;

/// <summary>
/// A hunt for the next bad event: requests of generated events with extreme, boundary and invalid values go through
/// ingest, lookups and retrains of a real server process, then a graceful restart and a kill -9 restart. It holds that
/// the server keeps answering, every retrain succeeds, every response is finite, every accepted event is counted once
/// and every rejected one leaves no trace. It samples for ENGINE_PROPERTY_SECONDS (default 60); CsCheck shrinks a
/// failure to a small request and prints its seed, and each counterexample found is kept as a plain test.
/// </summary>
[Trait("Category", "Property")]
[Trait("Category", "Process")]
public sealed class EndToEndProperties(ITestOutputHelper output)
{
    private static readonly DateTime Base = new(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private static readonly Gen<double> Amount = Gen.Frequency(
        (6, Gen.Double[0, 500]),
        (3, Gen.OneOf(0.0, -0.0, double.Epsilon, 1e-310, 1e-300, 1e9, 1e15, 1e300, double.MaxValue / 2, double.MaxValue)),
        (1, Gen.OneOf(double.NaN, double.PositiveInfinity, double.NegativeInfinity, -1, -double.Epsilon)),
        (1, Gen.Double));

    /// <summary>Mostly a history around 1997 (the watermark moves with it); sometimes a bound, just inside or outside.</summary>
    private static readonly Gen<Timestamp?> Time = Gen.Frequency(
        (8, Gen.Long[0, TimeSpan.FromDays(600).Ticks].Select(t => (Timestamp?)Timestamp.FromDateTime(Base.AddTicks(t)))),
        (2, Gen.OneOf<Func<Timestamp?>>(
            () => Timestamp.FromDateTime(DateTime.UnixEpoch),
            () => Timestamp.FromDateTime(DateTime.UnixEpoch.AddTicks(-10)),
            () => Timestamp.FromDateTime(DateTime.UtcNow.AddHours(23)),
            () => Timestamp.FromDateTime(DateTime.UtcNow.AddHours(25)),
            () => Timestamp.FromDateTime(new DateTime(2100, 1, 1, 0, 0, 0, DateTimeKind.Utc)),
            () => Timestamp.FromDateTime(DateTime.MinValue.ToUniversalTime()),
            () => Timestamp.FromDateTime(DateTime.SpecifyKind(DateTime.MaxValue, DateTimeKind.Utc)),
            () => Timestamp.FromDateTime(Base.AddDays(600 + 729)),
            () => Timestamp.FromDateTime(Base.AddDays(600 + 800)),
            () => new Timestamp { Seconds = 0, Nanos = -1 },
            () => null).Select(f => f())));

    private static readonly Gen<string> Category = Gen.Frequency(
        (6, Gen.OneOf("", "rock", "jazz", "pop")),
        (1, Gen.OneOf(new string('c', 256), new string('c', 257), "x\u0001y", "🛒 ünïcode", " ")));

    private static readonly Gen<Dictionary<string, string>> Attributes = Gen.Frequency(
        (8, Gen.Const(() => new Dictionary<string, string>())),
        (2, Gen.Int[1, 3].Select(n => Enumerable.Range(0, n).ToDictionary(i => $"k{i}", i => $"v{i}"))),
        (1, Gen.OneOf(64, 65).Select(n => Enumerable.Range(0, n).ToDictionary(i => $"k{i}", _ => "v"))),
        (1, Gen.OneOf<Func<Dictionary<string, string>>>(
            () => new() { [""] = "v" },
            () => new() { [new string('k', 129)] = "v" },
            () => new() { ["note"] = new string('v', 1024) },
            () => new() { ["note"] = new string('v', 1025) }).Select(f => f())));

    /// <summary>One generated event; ids are slots, made unique to the case when the request is built.</summary>
    private sealed record Spec(int Customer, string CustomerShape, int EventId, string EventShape, int Type, Timestamp? At, double Amount,
        string Category, Dictionary<string, string> Attributes);

    private static readonly Gen<Spec> Event = Gen.Select(
        Gen.Int[0, 3], Gen.Frequency((12, Gen.Const("plain")), (1, Gen.OneOf("empty", "long", "nul", "unicode", "limit"))),
        Gen.Int[0, 6], Gen.Frequency((12, Gen.Const("plain")), (1, Gen.OneOf("empty", "long", "tab", "limit"))),
        Gen.Frequency((6, Gen.Int[1, 2]), (4, Gen.Int[1, 8]), (1, Gen.OneOf(0, 9, 99))),
        Time, Amount, Gen.Select(Category, Attributes))
        .Select((c, cs, e, es, type, at, amount, rest) => new Spec(c, cs, e, es, type, at, amount, rest.Item1, rest.Item2));

    private static string CustomerId(Spec s, string prefix) => s.CustomerShape switch
    {
        "empty" => "",
        "long" => prefix + new string('x', 300),
        "nul" => $"{prefix}c{s.Customer}\0",
        "unicode" => $"{prefix}ü-🛒-{s.Customer}",
        "limit" => (prefix + new string('y', 256))[..256],
        _ => $"{prefix}c{s.Customer}",
    };

    private static string EventId(Spec s) => s.EventShape switch
    {
        "empty" => "",
        "long" => new string('e', 257),
        "tab" => $"e\t{s.EventId}",
        "limit" => new string('e', 255) + s.EventId,
        _ => $"e{s.EventId}",
    };

    /// <summary>What the server should hold: per customer, the ids of its accepted events and its purchases.</summary>
    private readonly ConcurrentDictionary<string, (HashSet<string> Events, long Purchases)> _expected = new();
    private long _cases, _events, _accepted, _duplicates, _rejected, _retrains;

    [Fact]
    public async Task Any_mix_of_extreme_boundary_and_bad_events_keeps_the_server_answering_and_counts_accepted_events_once()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("ENGINE_PROPERTY_SECONDS"), out var s) ? s : 60;
        var config = new EngineServer(settings: new()
        {
            // As far as a double goes: the worst values the edge can be configured to let in.
            ["Engine:MaxAmount"] = double.MaxValue.ToString("R"),
            ["Engine:CheckpointInterval"] = "00:10:00",
            ["Engine:CheckpointEvery"] = "1000",
        });
        await using var process = new EngineProcess(config);
        await process.StartAsync();
        // Customers to train on, so every retrain has more than k of them.
        var seed = Synthetic.Generate(customers: 300, seed: 51, prefix: "seed");
        await config.IngestAllAsync(seed.Events, 500);
        foreach (var e in seed.Events)
        {
            Record(e.CustomerId, e.EventId, e.Type);
        }
        await AssertRetrainAsync(config, k: 3);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        await Event.Array[1, 12].SampleAsync(specs => CaseAsync(config, specs), time: seconds, threads: 2,
            print: specs => string.Join("\n", specs), writeLine: output.WriteLine);
        var sampled = watch.Elapsed.TotalSeconds;

        Assert.Equal(0, await process.TerminateAsync());
        await process.StartAsync();
        await AssertHoldsAsync(config);
        // kill -9 between checkpoints: recovery replays every generated event from the log.
        process.Kill();
        await config.StopAsync();
        await process.StartAsync();
        await AssertHoldsAsync(config);
        output.WriteLine($"{_cases:N0} cases in {sampled:F0} s: {_events:N0} events, {_accepted:N0} accepted, {_duplicates:N0} duplicates, " +
            $"{_rejected:N0} rejected; {_retrains} retrains; {_expected.Count:N0} customers checked after a graceful and a kill -9 restart");
    }

    private async Task CaseAsync(EngineServer server, Spec[] specs)
    {
        var n = Interlocked.Increment(ref _cases);
        var prefix = $"p{n}-";
        var request = new IngestRequest();
        foreach (var spec in specs)
        {
            var e = new Api.V1.Event
            {
                CustomerId = CustomerId(spec, prefix), EventId = EventId(spec), Type = (EventType)spec.Type, OccurredAt = spec.At,
                Amount = spec.Amount, Category = spec.Category,
            };
            e.Attributes.Add(spec.Attributes);
            request.Events.Add(e);
        }
        var response = FiniteResponses.Assert(await server.Ingest.IngestAsync(request));
        var rejected = response.Rejected.ToDictionary(r => r.Index);
        Assert.All(response.Rejected, r => Assert.Matches("^(event_id|customer_id|type|occurred_at|amount|category|attributes)[\\[:]", r.Reason));
        var (accepted, duplicates) = (0, 0);
        for (var i = 0; i < request.Events.Count; i++)
        {
            if (!rejected.ContainsKey(i))
            {
                var e = request.Events[i];
                (accepted, duplicates) = Record(e.CustomerId, e.EventId, e.Type) ? (accepted + 1, duplicates) : (accepted, duplicates + 1);
            }
        }
        Assert.Equal((accepted, duplicates), (response.Accepted, response.Duplicates));
        Interlocked.Add(ref _events, request.Events.Count);
        Interlocked.Add(ref _accepted, accepted);
        Interlocked.Add(ref _duplicates, duplicates);
        Interlocked.Add(ref _rejected, rejected.Count);

        foreach (var id in request.Events.Select(e => e.CustomerId).Distinct().Where(id => id.Length is > 0 and <= 256))
        {
            await AssertCustomerAsync(server, id);
        }
        if (n % 40 == 0)
        {
            await AssertRetrainAsync(server, k: n % 80 == 0 ? 0 : 3);
        }
    }

    /// <summary>Notes an accepted event; false when the customer already had it (a duplicate).</summary>
    private bool Record(string customerId, string eventId, EventType type)
    {
        var entry = _expected.GetOrAdd(customerId, _ => ([], 0));
        lock (entry.Events)
        {
            if (!entry.Events.Add(eventId))
            {
                return false;
            }
            if (type == EventType.Purchase)
            {
                _expected.AddOrUpdate(customerId, entry, (_, old) => (old.Events, old.Purchases + 1));
            }
            return true;
        }
    }

    private async Task AssertCustomerAsync(EngineServer server, string id)
    {
        var expected = _expected.TryGetValue(id, out var entry) ? entry : ([], 0);
        if (expected.Events.Count == 0)
        {
            // Rejected events leave no trace.
            var missing = await Assert.ThrowsAsync<RpcException>(async () => await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }));
            Assert.Equal(StatusCode.NotFound, missing.StatusCode);
            return;
        }
        var customer = FiniteResponses.Assert(await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }));
        Assert.Equal((expected.Events.Count, expected.Purchases), (customer.EventCount, customer.Rfm.Frequency));
        FiniteResponses.Assert(await server.Segments.GetHistoryAsync(new GetHistoryRequest { CustomerId = id }));
    }

    private async Task AssertRetrainAsync(EngineServer server, int k)
    {
        var retrain = FiniteResponses.Assert(await server.Models.RetrainAsync(new RetrainRequest { K = k }));
        Assert.Equal(0, retrain.Excluded);
        Interlocked.Increment(ref _retrains);
        FiniteResponses.Assert(await server.Segments.ListSegmentsAsync(new ListSegmentsRequest()));
        FiniteResponses.Assert(await server.Models.GetModelAsync(new GetModelRequest()));
        FiniteResponses.Assert(await server.Models.GetDriftAsync(new GetDriftRequest()));
        FiniteResponses.Assert(await server.Segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest()));
        FiniteResponses.Assert(await server.Segments.ForecastAsync(new ForecastRequest()));
    }

    /// <summary>After a restart: every customer holds exactly its accepted events, answers finite, and retrains succeed.</summary>
    private async Task AssertHoldsAsync(EngineServer server)
    {
        var ids = _expected.Where(kv => kv.Value.Events.Count > 0).Select(kv => kv.Key).ToList();
        foreach (var chunk in ids.Chunk(1000))
        {
            var request = new BatchGetCustomersRequest();
            request.CustomerIds.AddRange(chunk);
            var response = FiniteResponses.Assert(await server.Segments.BatchGetCustomersAsync(request));
            Assert.Empty(response.NotFound);
            foreach (var c in response.Customers)
            {
                var (events, purchases) = _expected[c.CustomerId];
                Assert.Equal((events.Count, purchases), (c.EventCount, c.Rfm.Frequency));
            }
        }
        await AssertRetrainAsync(server, k: 3);
        await AssertRetrainAsync(server, k: 0);
    }
}
