using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using Engine.Api.V1;
using Engine.Server.Hosting;
using Engine.Testing;
using Google.Protobuf.WellKnownTypes;
using Grpc.Net.Client;
using HdrHistogram;

namespace Engine.Bench;

/// <summary>
/// `engine-bench alerts`: alert latency under load. A real server (its own Kestrel, silo and SQLite store, in this
/// process) gets a population of small and big spenders and a two-segment model; then events stream in through
/// IngestStream at a fixed rate, some of them big purchases that move a small spender. Latency is measured from the
/// moment the ingest acknowledgement of the causing event arrives to the moment its alert arrives on a subscription
/// opened before the load (an alert that beats its acknowledgement counts as 0).
/// </summary>
public static class AlertBench
{
    public static Command Create()
    {
        var rate = new Option<int>("--rate") { Description = "Events per second to offer", DefaultValueFactory = _ => 10_000 };
        var seconds = new Option<int>("--seconds") { DefaultValueFactory = _ => 10 };
        var customers = new Option<int>("--customers") { DefaultValueFactory = _ => 20_000 };
        var movers = new Option<double>("--movers") { Description = "Share of events that move a customer", DefaultValueFactory = _ => 0.05 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (always on)" };
        var data = new Option<DirectoryInfo?>("--data") { Description = "Keep the server's data here (default: a temporary directory, deleted)" };
        var command = new Command("alerts", "Alert latency from ingest acknowledgement to subscription, at a fixed event rate") { rate, seconds, customers, movers, json, data };
        command.SetAction(async (parse, ct) =>
        {
            Json.Print(await RunAsync(parse.GetValue(rate), parse.GetValue(seconds), parse.GetValue(customers), parse.GetValue(movers), parse.GetValue(data)?.FullName, ct));
            return 0;
        });
        return command;
    }

    private static async Task<object> RunAsync(int rate, int seconds, int customerCount, double moverShare, string? keep, CancellationToken ct)
    {
        var directory = keep ?? Path.Combine(Path.GetTempPath(), "engine-bench", Guid.NewGuid().ToString("N"));
        var grpcPort = FreePorts.Next();
        var app = EngineHost.Build([
            $"--Engine:DataDirectory={directory}", $"--Engine:GrpcPort={grpcPort}", $"--Engine:HttpPort={FreePorts.Next()}",
            $"--Engine:SiloPort={FreePorts.Next()}", $"--Engine:GatewayPort={FreePorts.Next()}", "--Engine:AutoTrainMinCustomers=100000000",
            "--Engine:DriftCheckInterval=01:00:00", "--Engine:Webhooks:AllowPrivateTargets=true", "--Logging:LogLevel:Default=Warning",
        ]);
        await app.StartAsync(ct);
        try
        {
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
            var ingest = new IngestService.IngestServiceClient(channel);
            var now = DateTime.UtcNow.AddHours(-1);
            var rng = new Random(5);
            // Seed: half small spenders, half big spenders, then a model that tells them apart.
            var seed = Enumerable.Range(0, customerCount).Select(i => Purchase($"seed-{i}", $"c{i}", i % 2 == 0 ? 10 : 2_000, now)).ToList();
            foreach (var chunk in seed.Chunk(5_000))
            {
                await ingest.IngestAsync(new IngestRequest { Events = { chunk } }, cancellationToken: ct);
            }
            await new ModelService.ModelServiceClient(channel).RetrainAsync(new RetrainRequest { K = 2 }, cancellationToken: ct);

            var acked = new ConcurrentDictionary<string, long>();
            var alerts = new ConcurrentBag<(string Customer, long At)>();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var subscription = new AlertService.AlertServiceClient(channel).SubscribeMigrations(
                new SubscribeMigrationsRequest { LiveOnly = true, Causes = { Cause.Event } }, cancellationToken: stop.Token);
            var listening = Task.Run(async () =>
            {
                try
                {
                    while (await subscription.ResponseStream.MoveNext(stop.Token))
                    {
                        alerts.Add((subscription.ResponseStream.Current.CustomerId, Stopwatch.GetTimestamp()));
                    }
                }
                catch (Exception) when (stop.IsCancellationRequested)
                {
                }
            });
            await Task.Delay(500, ct);

            // Load: batches every 10 ms; movers are small spenders making one big purchase.
            const int tickMs = 10;
            var perTick = Math.Max(1, rate * tickMs / 1000);
            var ticks = seconds * 1000 / tickMs;
            var ackLatency = new LongHistogram(TimeStamp.Minutes(1), 3);
            var pending = new ConcurrentQueue<(long Sent, string[] Movers)>();
            using var stream = ingest.IngestStream(cancellationToken: ct);
            var moverIndex = 0;
            var sentEvents = 0L;
            var reading = Task.Run(async () =>
            {
                while (await stream.ResponseStream.MoveNext(ct))
                {
                    var at = Stopwatch.GetTimestamp();
                    pending.TryDequeue(out var batch);
                    ackLatency.RecordValue(at - batch.Sent);
                    foreach (var m in batch.Movers)
                    {
                        acked[m] = at;
                    }
                }
            }, ct);
            var watch = Stopwatch.StartNew();
            var n = 0L;
            for (var tick = 0; tick < ticks; tick++)
            {
                var request = new IngestRequest();
                var moving = new List<string>();
                for (var i = 0; i < perTick; i++)
                {
                    var id = n++;
                    if (rng.NextDouble() < moverShare && moverIndex * 2 < customerCount)
                    {
                        var customer = $"c{moverIndex++ * 2}";
                        moving.Add(customer);
                        request.Events.Add(Purchase($"load-{id}", customer, 50_000, now));
                    }
                    else
                    {
                        request.Events.Add(Purchase($"load-{id}", $"c{rng.Next(0, customerCount / 2) * 2 + 1}", 2_000, now));
                    }
                }
                pending.Enqueue((Stopwatch.GetTimestamp(), moving.ToArray()));
                await stream.RequestStream.WriteAsync(request, ct);
                sentEvents += perTick;
                var due = (tick + 1) * tickMs - watch.ElapsedMilliseconds;
                if (due > 0)
                {
                    await Task.Delay((int)due, ct);
                }
            }
            await stream.RequestStream.CompleteAsync();
            await reading;
            var elapsed = watch.Elapsed.TotalSeconds;
            // Let the subscription drain: stop once no alert has arrived for a second (or after 30 s).
            var drain = Stopwatch.StartNew();
            for (var seen = -1; seen != alerts.Count && drain.Elapsed < TimeSpan.FromSeconds(30);)
            {
                seen = alerts.Count;
                await Task.Delay(1000, ct);
            }
            await stop.CancelAsync();
            await listening;

            var alertLatency = new LongHistogram(TimeStamp.Minutes(1), 3);
            var matched = 0;
            foreach (var (customer, at) in alerts)
            {
                if (acked.TryGetValue(customer, out var ack))
                {
                    alertLatency.RecordValue(Math.Max(0, at - ack));
                    matched++;
                }
            }
            double Ms(LongHistogram h, double p) => Math.Round(h.GetValueAtPercentile(p) * 1000.0 / Stopwatch.Frequency, 3);
            return new
            {
                benchmark = "alerts",
                cores = Environment.ProcessorCount,
                target_events_per_second = rate,
                events = sentEvents,
                events_per_second = Math.Round(sentEvents / elapsed),
                movers = moverIndex,
                alerts = alerts.Count,
                alerts_matched = matched,
                alert_latency_ms = new { p50 = Ms(alertLatency, 50), p90 = Ms(alertLatency, 90), p99 = Ms(alertLatency, 99), max = Ms(alertLatency, 100) },
                ack_latency_ms = new { p50 = Ms(ackLatency, 50), p99 = Ms(ackLatency, 99), max = Ms(ackLatency, 100) },
            };
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            try
            {
                if (keep is null)
                {
                    Directory.Delete(directory, true);
                }
            }
            catch (IOException)
            {
            }
        }
    }

    private static Event Purchase(string eventId, string customer, double amount, DateTime at) => new()
    {
        EventId = eventId, CustomerId = customer, Type = EventType.Purchase, Amount = amount, OccurredAt = Timestamp.FromDateTime(at), Category = "x",
    };
}
