using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using Engine.Api.V1;
using Grpc.Core;
using Grpc.Net.Client;
using HdrHistogram;

namespace Engine.Bench;

/// <summary>
/// `engine-bench lookup`: GetCustomer throughput and latency at 1, 16 and 64 calls in flight, for cold customers (not
/// active: the call activates the grain from its checkpoint) and warm ones, against a server process; and, in the same
/// run, the same client against a bare gRPC server whose GetCustomer is one no-op grain call (another process of this
/// tool, <c>engine-bench baseline-server</c>), in slices that alternate with the warm ones. Then two floors of this machine:
/// what no cold lookup and no lookup at all can beat here (<see cref="MeasureFloorsAsync"/>).
/// </summary>
public static class LookupBench
{
    private static readonly int[] InFlight = [1, 16, 64];
    private const int Rounds = 5;

    /// <summary>
    /// Customers beyond the measured ones (a fifth as many), looked up once right after the restart and not measured.
    /// A fresh server compiles its activation path (tiered JIT) and grows its heap during its first cold lookups:
    /// without this warm-up, the JIT took a large share of the server's CPU samples over the measured cold steps (deploy/bench/HISTORY.md, "Behind the code").
    /// </summary>
    private static int ColdWarmUp(int customers) => Math.Max(1_000, customers / 5);

    public static Command Create()
    {
        var customers = new Option<int>("--customers") { DefaultValueFactory = _ => 100_000 };
        var seconds = new Option<double>("--seconds") { Description = "Measured seconds per step", DefaultValueFactory = _ => 5 };
        var storage = new Option<string>("--storage") { DefaultValueFactory = _ => "sqlite" };
        var connection = new Option<string?>("--connection-string") { Description = "PostgreSQL, with --storage postgres" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (always on)" };
        var tracing = new Option<bool>("--tracing") { Description = "Server with OpenTelemetry tracing on, exporting to a local sink" };
        var command = new Command("lookup", "GetCustomer latency and throughput, cold and warm, with the bare gRPC → grain baseline")
        {
            customers, seconds, storage, connection, json, tracing,
        };
        command.SetAction(async (parse, ct) =>
        {
            var (n, step) = (parse.GetValue(customers), TimeSpan.FromSeconds(parse.GetValue(seconds)));
            var spares = ColdWarmUp(n);
            await using var server = await BenchServer.StartAsync(parse.GetValue(storage)!, parse.GetValue(connection), new Dictionary<string, string?> { ["Engine:AutoTrainMinCustomers"] = "1000" },
                parse.GetValue(tracing));
            using (var channel = GrpcChannel.ForAddress(server.GrpcAddress))
            {
                await IngestBench.StreamAsync(new IngestService.IngestServiceClient(channel), n + spares, n + spares, 1000, 8, "warm", 0, null, ct);
            }
            // A graceful restart checkpoints everyone and leaves no customer active: every first lookup is cold.
            await server.RestartAsync();
            // Scraped once, as Prometheus scrapes every deployment: prometheus-net starts forwarding the .NET meters on
            // the first scrape, and what it forwards per request is part of a lookup's cost in production.
            using var scraper = new HttpClient();
            await scraper.GetStringAsync($"{server.HttpAddress}/metrics", ct);
            async Task<double?> JitSecondsAsync() => (await ServerRuntime.ReadAsync(scraper, server.HttpAddress!, ct)).JitSeconds;
            static double? Between(double? then, double? now) => now - then is { } seconds ? Math.Round(seconds, 2) : null;
            using var engine = GrpcChannel.ForAddress(server.GrpcAddress);
            var client = new SegmentService.SegmentServiceClient(engine);

            // The baseline server is up (idle) from here on, so warm and baseline slices can alternate below.
            await using var baselineServer = await BaselineServer.StartAsync(noGrain: false);
            using var bare = GrpcChannel.ForAddress(baselineServer.GrpcAddress);
            var bareClient = new SegmentService.SegmentServiceClient(bare);

            // The server's JIT compile time is reported over the warm-up and over the cold steps: the tiered JIT recompiles
            // hot methods for many seconds after a start, and on two cores it competes with the cold steps.
            var jitAtStart = await JitSecondsAsync();
            await MeasureAsync(client, InFlight[^1], TimeSpan.FromMinutes(1), EachOnce(Enumerable.Range(n, spares).Select(i => $"c{i}")), new Tally(), ct);
            var ids = Enumerable.Range(0, n).Select(i => $"c{i}").OrderBy(_ => Random.Shared.Next()).ToArray();
            var cold = new List<Step>();
            var chunk = n / InFlight.Length;
            var activated = new ConcurrentQueue<string>();
            var jitBefore = await JitSecondsAsync();
            for (var i = 0; i < InFlight.Length; i++)
            {
                var each = EachOnce(ids.Skip(i * chunk).Take(chunk));
                cold.Add(await StepAsync(client, InFlight[i], step, () => each() is { } id ? Noted(id, activated) : null, ct));
            }
            var coldJit = Between(jitBefore, await JitSecondsAsync());
            // Warm: the customers the cold steps activated, and only them (a step ends after its time, before its ids do):
            // a warm step that activates customers measures cold lookups too.
            var active = activated.ToArray();
            string Any() => active[Random.Shared.Next(active.Length)];
            await MeasureAsync(client, 16, TimeSpan.FromSeconds(2), Any, new Tally(), ct);
            await MeasureAsync(bareClient, 16, TimeSpan.FromSeconds(2), Any, new Tally(), ct);
            // Warm and baseline alternate in slices, so a slow spell of this shared machine hits both sides alike.
            var (warm, baseline) = (new List<Step>(), new List<Step>());
            foreach (var w in InFlight)
            {
                var (engineTally, bareTally) = (new Tally(), new Tally());
                for (var round = 0; round < Rounds; round++)
                {
                    await MeasureAsync(client, w, step / Rounds, Any, engineTally, ct);
                    await MeasureAsync(bareClient, w, step / Rounds, Any, bareTally, ct);
                }
                warm.Add(engineTally.ToStep(w));
                baseline.Add(bareTally.ToStep(w));
            }
            var (bareCold, floor) = await MeasureFloorsAsync(bareClient, spares, chunk, step, ct);

            Json.Print(new
            {
                benchmark = "lookup",
                cores = Environment.ProcessorCount,
                storage = parse.GetValue(storage),
                customers = n,
                cold_warm_up_customers = spares,
                cold_warm_up_jit_seconds = Between(jitAtStart, jitBefore),
                cold_jit_seconds = coldJit,
                warm_customers = active.Length,
                seconds_per_step = step.TotalSeconds,
                warm_and_baseline_slices = Rounds,
                cold,
                warm,
                baseline,
                bare_cold = bareCold,
                grpc_floor = floor,
                tracing = parse.GetValue(tracing),
                trace_bytes_exported = server.TraceBytes,
                warm_ratio_to_baseline = warm.Zip(baseline, (a, b) => new { in_flight = a.in_flight, ratio = Math.Round(a.per_second / b.per_second, 3) }),
            });
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The floors, after Engine's own steps, because measured between them (tried) they slowed Engine's cold p99
    /// (deploy/bench/HISTORY.md, "Behind the code"). <c>bare_cold</c>: the baseline server's
    /// first call to ids it has never seen, each a no-op grain activated with no state to read, after the same warm-up
    /// the cold steps had. <c>grpc_floor</c>: a third process of the same shape whose GetCustomer answers without any
    /// grain call.
    /// </summary>
    private static async Task<(List<Step> BareCold, List<Step> Floor)> MeasureFloorsAsync(
        SegmentService.SegmentServiceClient bareClient, int warmUp, int perStep, TimeSpan step, CancellationToken ct)
    {
        Func<string?> Fresh(string prefix, int count) => EachOnce(Enumerable.Range(0, count).Select(i => $"{prefix}-{i}"));
        await MeasureAsync(bareClient, InFlight[^1], TimeSpan.FromMinutes(1), Fresh("warm-up", warmUp), new Tally(), ct);
        var bareCold = new List<Step>();
        foreach (var w in InFlight)
        {
            bareCold.Add(await StepAsync(bareClient, w, step, Fresh($"fresh-{w}", perStep), ct));
        }

        await using var floorServer = await BaselineServer.StartAsync(noGrain: true);
        using var channel = GrpcChannel.ForAddress(floorServer.GrpcAddress);
        var floorClient = new SegmentService.SegmentServiceClient(channel);
        string Any() => $"c{Random.Shared.Next(perStep)}";
        await MeasureAsync(floorClient, 16, TimeSpan.FromSeconds(2), Any, new Tally(), ct);
        var floor = new List<Step>();
        foreach (var w in InFlight)
        {
            floor.Add(await StepAsync(floorClient, w, step, Any, ct));
        }
        return (bareCold, floor);
    }

    /// <summary>One measured step on its own: <see cref="MeasureAsync"/> into a fresh tally.</summary>
    private static async Task<Step> StepAsync(SegmentService.SegmentServiceClient client, int inFlight, TimeSpan duration,
        Func<string?> next, CancellationToken ct)
    {
        var tally = new Tally();
        await MeasureAsync(client, inFlight, duration, next, tally, ct);
        return tally.ToStep(inFlight);
    }

    private static string Noted(string id, ConcurrentQueue<string> into)
    {
        into.Enqueue(id);
        return id;
    }

    /// <summary>Hands out each id once, to any number of workers, then null (the step ends).</summary>
    private static Func<string?> EachOnce(IEnumerable<string> ids)
    {
        var queue = new ConcurrentQueue<string>(ids);
        return () => queue.TryDequeue(out var id) ? id : null;
    }

    /// <summary>One step's result; snake_case because it is printed as is.</summary>
    private sealed record Step(int in_flight, long calls, double per_second, double p50_ms, double p99_ms, double max_ms, long errors);

    /// <summary>Latencies, errors and measured time of one side, over one or more slices.</summary>
    private sealed class Tally
    {
        public LongHistogram Latencies { get; } = new(TimeStamp.Seconds(30), 3);
        public long Errors;
        public double Seconds;

        public Step ToStep(int inFlight)
        {
            double Ms(double p) => Math.Round(Latencies.GetValueAtPercentile(p) * 1000.0 / Stopwatch.Frequency, 3);
            return new Step(inFlight, Latencies.TotalCount, Math.Round(Latencies.TotalCount / Seconds), Ms(50), Ms(99), Ms(100), Errors);
        }
    }

    /// <summary>
    /// <paramref name="inFlight"/> workers call GetCustomer back to back for <paramref name="duration"/> or until
    /// <paramref name="next"/> runs out of ids; their latencies, errors and the time taken go into <paramref name="tally"/>.
    /// </summary>
    private static async Task MeasureAsync(SegmentService.SegmentServiceClient client, int inFlight, TimeSpan duration,
        Func<string?> next, Tally tally, CancellationToken ct)
    {
        var histograms = Enumerable.Range(0, inFlight).Select(_ => new LongHistogram(TimeStamp.Seconds(30), 3)).ToArray();
        var errors = 0L;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(histograms.Select(h => Task.Run(async () =>
        {
            while (watch.Elapsed < duration && next() is { } id)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    await client.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }, cancellationToken: ct);
                    h.RecordValue(Stopwatch.GetTimestamp() - start);
                }
                catch (RpcException)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        }, ct)));
        tally.Seconds += watch.Elapsed.TotalSeconds;
        tally.Errors += errors;
        foreach (var h in histograms)
        {
            tally.Latencies.Add(h);
        }
    }
}
