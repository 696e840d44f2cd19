using System.CommandLine;
using System.Diagnostics;
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using HdrHistogram;

namespace Engine.Bench;

/// <summary>
/// `engine-bench ingest`: sustained ingest with durable acknowledgements, from this process to a server process over
/// IngestStream, with requests pipelined; and, in the same run, the bare Orleans rate (one no-op grain call per event,
/// in-process, same concurrency shape) as the baseline.
/// </summary>
public static class IngestBench
{
    public static Command Create()
    {
        var customers = new Option<int>("--customers") { DefaultValueFactory = _ => 100_000 };
        var events = new Option<int>("--events") { DefaultValueFactory = _ => 1_000_000 };
        var batch = new Option<int>("--batch") { Description = "Events per request", DefaultValueFactory = _ => 1000 };
        var inFlight = new Option<int>("--in-flight") { Description = "Requests in flight on the stream", DefaultValueFactory = _ => 8 };
        var storage = new Option<string>("--storage") { DefaultValueFactory = _ => "sqlite" };
        var connection = new Option<string?>("--connection-string") { Description = "PostgreSQL, with --storage postgres" };
        var target = new Option<string?>("--target")
        {
            Description = "gRPC address of a running server to load instead of starting one; several, comma-separated, for a cluster's silos (one stream each)",
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (always on)" };
        var tracing = new Option<bool>("--tracing") { Description = "Server with OpenTelemetry tracing on, exporting to a local sink" };
        var retrainAt = new Option<double?>("--retrain-at")
        {
            Description = "Seconds into the load to retrain (the server's drift check off, so this is the load's only retrain); 0 = no retrain, drift check off. " +
                "Unset: the server's own drift check, as deployed",
        };
        var warmRetrain = new Option<bool>("--warm-retrain")
        {
            Description = "Retrain (the current k) at the end of the warm-up, unmeasured, so that the load starts with a model trained on every " +
                "customer, as a deployed engine has; without it the load starts with the first model, trained on the first 1,000 customers' first events",
        };
        var metricsAddress = new Option<string?>("--metrics")
        {
            Description = "HTTP address of the --target server's /metrics (e.g. http://127.0.0.1:5001), to report its thread-pool and GC pauses",
        };
        var command = new Command("ingest", "Sustained durable ingest rate against a server process, with the bare Orleans baseline")
        {
            customers, events, batch, inFlight, storage, connection, target, json, tracing, retrainAt, warmRetrain, metricsAddress,
        };
        command.SetAction(async (parse, ct) =>
        {
            var (n, m, b, w) = (parse.GetValue(customers), parse.GetValue(events), parse.GetValue(batch), parse.GetValue(inFlight));
            var baseline = await BaselineAsync(m, b, w);
            var retrainSecond = parse.GetValue(retrainAt);
            var serverSettings = new Dictionary<string, string?> { ["Engine:AutoTrainMinCustomers"] = "1000" };
            if (retrainSecond is not null)
            {
                serverSettings["Engine:DriftCheckInterval"] = "1.00:00:00";
            }
            await using var server = parse.GetValue(target) is null
                ? await BenchServer.StartAsync(parse.GetValue(storage)!, parse.GetValue(connection), serverSettings, parse.GetValue(tracing))
                : null;
            using var http = new HttpClient();
            var addresses = server is not null ? [server.GrpcAddress] : parse.GetValue(target)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var channels = addresses.Select(a => GrpcChannel.ForAddress(a)).ToArray();
            using var _ = new Disposables(channels);
            var clients = channels.Select(c => new IngestService.IngestServiceClient(c)).ToArray();
            var client = clients[0];
            var models = new ModelService.ModelServiceClient(channels[0]);
            // Warm-up, not measured: every customer once (activations, first model), then half the load's events of the
            // load's kind, so that the fresh server's JIT has moved its hot paths to their final tier. Without the second
            // part, JIT was a visible share of the server's samples in the measured window (deploy/bench/HISTORY.md, "Behind the code").
            await StreamAsync(client, n, n, b, w, "warm", 0, null, ct);
            var warmLoad = m / 2;
            await SpreadAsync(clients, n, warmLoad, b, w, "warm-load", 2, null, ct);
            if (parse.GetValue(warmRetrain))
            {
                await RetrainAtCurrentKAsync(models, ct);
            }
            // A retrain inside the window costs every active customer a checkpoint: the JSON says whether one landed.
            var modelBefore = await models.GetModelAsync(new GetModelRequest(), cancellationToken: ct);
            var latency = new LongHistogram(TimeStamp.Minutes(1), 3);
            var metrics = server?.HttpAddress ?? parse.GetValue(metricsAddress);
            var pausesBefore = metrics is not null ? await ServerRuntime.ReadAsync(http, metrics) : null;
            var timeline = new AckTimeline();
            var watch = Stopwatch.StartNew();
            var retraining = retrainSecond is > 0 ? RetrainAtAsync(models, TimeSpan.FromSeconds(retrainSecond.Value), watch, ct) : null;
            await SpreadAsync(clients, n, m, b, w, "load", 1, latency, ct, timeline);
            var seconds = watch.Elapsed.TotalSeconds;
            var retrain = retraining is null ? null : await retraining;
            var pauses = pausesBefore is not null ? (await ServerRuntime.ReadAsync(http, metrics!)).Since(pausesBefore) : null;
            var modelAfter = await models.GetModelAsync(new GetModelRequest(), cancellationToken: ct);
            double Ms(double p) => Math.Round(latency.GetValueAtPercentile(p) * 1000.0 / Stopwatch.Frequency, 2);
            Json.Print(new
            {
                benchmark = "ingest",
                cores = Environment.ProcessorCount,
                storage = parse.GetValue(target) is { } address ? $"running server at {address}" : parse.GetValue(storage),
                streams = clients.Length,
                customers = n,
                events = m,
                warm_up_events = n + warmLoad,
                warm_retrain = parse.GetValue(warmRetrain),
                batch = b,
                in_flight = w,
                seconds = Math.Round(seconds, 2),
                events_per_second = Math.Round(m / seconds),
                ack_latency_ms = new { p50 = Ms(50), p99 = Ms(99), max = Ms(100) },
                baseline_calls_per_s = Math.Round(baseline),
                ratio_to_baseline = Math.Round(m / seconds / baseline, 3),
                models_published_during_load = modelAfter.Version - modelBefore.Version,
                tracing = parse.GetValue(tracing),
                trace_bytes_exported = server?.TraceBytes ?? 0,
                model_reason_at_end = modelAfter.Reason,
                retrain_at_s = retrainSecond,
                retrain,
                events_per_second_by_second = timeline.PerSecond(),
                runtime_pauses = pauses,
            });
            return 0;
        });
        return command;
    }

    /// <summary>
    /// One retrain <paramref name="at"/> into the load, as a drift retrain makes it (the current k): when it started and
    /// ended on the load's clock, and the coordinator's own seconds for it (fit, publish and rollout).
    /// </summary>
    private static async Task<object> RetrainAtAsync(ModelService.ModelServiceClient models, TimeSpan at, Stopwatch load, CancellationToken ct)
    {
        await Task.Delay(at, ct);
        var started = load.Elapsed.TotalSeconds;
        var (k, r) = await RetrainAtCurrentKAsync(models, ct);
        var ended = load.Elapsed.TotalSeconds;
        return new
        {
            started_s = Math.Round(started, 2),
            ended_s = Math.Round(ended, 2),
            seconds = Math.Round(ended - started, 2),
            k,
            coordinator_seconds = Math.Round(r.Seconds, 2),
            model_version = r.ModelVersion,
            reassigned = r.Reassigned,
        };
    }

    /// <summary>A retrain as a drift retrain makes it: at the current model's k.</summary>
    private static async Task<(int K, RetrainResponse Response)> RetrainAtCurrentKAsync(ModelService.ModelServiceClient models, CancellationToken ct)
    {
        var k = (await models.GetModelAsync(new GetModelRequest(), cancellationToken: ct)).K;
        return (k, await models.RetrainAsync(new RetrainRequest { K = k }, cancellationToken: ct));
    }

    /// <summary>Events acknowledged in each whole second of the load.</summary>
    internal sealed class AckTimeline
    {
        private readonly Stopwatch _watch = Stopwatch.StartNew();
        private readonly List<long> _perSecond = [];

        public void Acked(int events)
        {
            var second = (int)_watch.Elapsed.TotalSeconds;
            lock (_perSecond)
            {
                while (_perSecond.Count <= second)
                {
                    _perSecond.Add(0);
                }
                _perSecond[second] += events;
            }
        }

        public long[] PerSecond()
        {
            lock (_perSecond)
            {
                return [.. _perSecond];
            }
        }
    }

    /// <summary>The events split over one stream per client (a cluster's silos), each with its own event ids and random sequence.</summary>
    private static Task SpreadAsync(IngestService.IngestServiceClient[] clients, int customers, int events, int batch, int inFlight,
        string prefix, int seed, LongHistogram? latency, CancellationToken ct, AckTimeline? timeline = null) =>
        clients.Length == 1
            ? StreamAsync(clients[0], customers, events, batch, inFlight, prefix, seed, latency, ct, timeline)
            : Task.WhenAll(clients.Select((c, i) => StreamAsync(c, customers, events / clients.Length, batch, inFlight, $"{prefix}{i}", seed * 100 + i, latency, ct, timeline)));

    private sealed class Disposables(IEnumerable<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items)
            {
                item.Dispose();
            }
        }
    }

    internal static async Task StreamAsync(IngestService.IngestServiceClient client, int customers, int events, int batch, int inFlight,
        string prefix, int seed, LongHistogram? latency, CancellationToken ct, AckTimeline? timeline = null)
    {
        var rng = new Random(seed);
        var now = DateTime.UtcNow.AddHours(-1);
        using var call = client.IngestStream(cancellationToken: ct);
        using var window = new SemaphoreSlim(inFlight);
        var sent = new System.Collections.Concurrent.ConcurrentQueue<long>();
        var reading = Task.Run(async () =>
        {
            while (await call.ResponseStream.MoveNext(ct))
            {
                sent.TryDequeue(out var at);
                timeline?.Acked(call.ResponseStream.Current.Accepted + call.ResponseStream.Current.Duplicates);
                if (latency is not null)
                {
                    // Several streams may share the histogram (a cluster load).
                    lock (latency)
                    {
                        latency.RecordValue(Stopwatch.GetTimestamp() - at);
                    }
                }
                window.Release();
            }
        }, ct);
        for (var i = 0; i < events; i += batch)
        {
            var request = new IngestRequest();
            for (var j = i; j < Math.Min(events, i + batch); j++)
            {
                request.Events.Add(new Event
                {
                    EventId = $"{prefix}-{j}", CustomerId = prefix == "warm" ? $"c{j}" : $"c{rng.Next(customers)}",
                    Type = EventType.Purchase, Amount = 10 + rng.Next(0, 90), OccurredAt = Timestamp.FromDateTime(now.AddSeconds(j % 3600)),
                });
            }
            await window.WaitAsync(ct);
            sent.Enqueue(Stopwatch.GetTimestamp());
            await call.RequestStream.WriteAsync(request, ct);
        }
        await call.RequestStream.CompleteAsync();
        await reading;
    }

    /// <summary>One no-op grain call per event, over the same number of distinct grains, batches in parallel.</summary>
    private static async Task<double> BaselineAsync(int events, int batch, int inFlight)
    {
        await using var silo = await LocalSilo.StartAsync(shards: 1);
        var grains = Enumerable.Range(0, 10_000).Select(i => silo.Grains.GetGrain<IBaselineGrain>($"b{i}")).ToArray();
        await Task.WhenAll(grains.Select(g => g.TouchAsync()));
        var total = Math.Min(events, 500_000);
        var watch = Stopwatch.StartNew();
        using var window = new SemaphoreSlim(inFlight);
        var tasks = new List<Task>();
        for (var i = 0; i < total; i += batch)
        {
            await window.WaitAsync();
            var from = i;
            tasks.Add(Task.Run(async () =>
            {
                await Task.WhenAll(Enumerable.Range(from, Math.Min(batch, total - from)).Select(j => grains[j % grains.Length].TouchAsync()));
                window.Release();
            }));
        }
        await Task.WhenAll(tasks);
        return total / watch.Elapsed.TotalSeconds;
    }
}
