using System.Diagnostics;
using System.Collections.Concurrent;
using Engine.Api.V1;
using Grpc.Core;
using Xunit.Abstractions;

namespace Engine.ProcessTests;

/// <summary>
/// Three real silo processes on one PostgreSQL database, as <c>deploy/local/cluster.sh</c> runs them. Clients send to
/// any silo; one silo is killed with SIGKILL while events stream in.
/// </summary>
[Collection(ServerProcesses.Name)]
[Trait("Category", "Process")]
public sealed class ClusterTests(ITestOutputHelper output)
{
    private static EngineProcess Silo(string connectionString, params (string Key, string Value)[] extra) =>
        new(new EngineServer(settings: With(new()
        {
            ["Engine:Storage"] = "postgres",
            ["Engine:ConnectionString"] = connectionString,
            ["Engine:ClusterId"] = "cluster-test",
            ["Engine:AutoTrainMinCustomers"] = "300",
            ["Engine:DefaultK"] = "3",
            ["Engine:CheckpointInterval"] = "00:00:02",
            // Three silos next to the other PostgreSQL tests stay under the server's default 100 connections.
            ["Engine:PostgresPoolSize"] = "16",
            ["Logging:LogLevel:Engine"] = "Information",
        }, extra)));

    private static async Task<EngineProcess[]> StartClusterAsync(string connectionString, int silos, params (string Key, string Value)[] extra)
    {
        var processes = Enumerable.Range(0, silos).Select(_ => Silo(connectionString, extra)).ToArray();
        try
        {
            await Task.WhenAll(processes.Select(p => p.StartAsync()));
        }
        catch
        {
            // Leave no silo running behind a failed start.
            foreach (var p in processes)
            {
                await p.DisposeAsync();
            }
            throw;
        }
        return processes;
    }

    private static Dictionary<string, string?> With(Dictionary<string, string?> settings, (string Key, string Value)[] extra)
    {
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }
        return settings;
    }

    /// <summary>Sends one request until some live silo acknowledges it, starting at <paramref name="first"/>.</summary>
    private static async Task<(IngestResponse Response, int Failures)> IngestWithRetryAsync(
        EngineProcess[] silos, Func<EngineProcess, bool> alive, IngestRequest request, int first)
    {
        var failures = 0;
        for (var attempt = 0; ; attempt++)
        {
            var silo = silos[(first + attempt) % silos.Length];
            if (!alive(silo))
            {
                continue;
            }
            try
            {
                return (await silo.Client.Ingest.IngestAsync(request, deadline: DateTime.UtcNow.AddSeconds(20)), failures);
            }
            catch (RpcException) when (failures < 50)
            {
                failures++;
                await Task.Delay(200);
            }
        }
    }

    private static async Task<T> WithRetryAsync<T>(Func<Task<T>> call, ConcurrentBag<int>? retries = null)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var result = await call();
                retries?.Add(attempt);
                return result;
            }
            catch (RpcException) when (attempt < 100)
            {
                await Task.Delay(200);
            }
        }
    }

    [SkippableFact]
    public async Task A_silo_killed_under_load_loses_no_acknowledged_event_and_its_customers_reactivate_elsewhere()
    {
        await using var db = await Postgres.CreateDatabaseAsync();
        var cs = db.ConnectionString;
        var silos = await StartClusterAsync(cs, 3);
        var killed = new HashSet<EngineProcess>();
        bool Alive(EngineProcess p)
        {
            lock (killed)
            {
                return !killed.Contains(p);
            }
        }
        try
        {
            var data = Synthetic.Generate(customers: 1500, seed: 91);
            var ids = data.CustomerIds.ToList();
            var requests = Synthetic.Batches(data.Events, 100).ToList();
            var warmup = requests.Count / 3;

            // Phase 1: every silo takes requests; the first model trains; histories are recorded.
            for (var i = 0; i < warmup; i++)
            {
                Assert.Equal(100, (await IngestWithRetryAsync(silos, Alive, requests[i], i)).Response.Accepted);
            }
            await Population.WaitForModelAsync(silos[0].Client);
            var known = requests.Take(warmup).SelectMany(r => r.Events).Select(e => e.CustomerId).Distinct().ToList();
            var before = await Population.HistoriesAsync(silos[0].Client, known);

            // Phase 2: two clients stream the rest round-robin over the silos; silo 2 is killed a third of the way in,
            // while lookups keep going through silo 0.
            var rest = requests.Skip(warmup).ToList();
            var acked = new ConcurrentDictionary<int, IngestResponse>();
            var failures = 0;
            var lookups = new ConcurrentBag<int>();
            using var stop = new CancellationTokenSource();
            var lookupLoop = Task.Run(async () =>
            {
                var rng = new Random(3);
                while (!stop.IsCancellationRequested)
                {
                    var id = known[rng.Next(known.Count)];
                    await WithRetryAsync(() => silos[0].Client.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = id }).ResponseAsync, lookups);
                }
            });
            async Task Client(int offset)
            {
                for (var i = offset; i < rest.Count; i += 2)
                {
                    var (response, failed) = await IngestWithRetryAsync(silos, Alive, rest[i], i);
                    Interlocked.Add(ref failures, failed);
                    acked[i] = response;
                    if (i == rest.Count / 3)
                    {
                        lock (killed)
                        {
                            killed.Add(silos[2]);
                        }
                        silos[2].Kill();
                    }
                }
            }
            await Task.WhenAll(Client(0), Client(1));
            stop.Cancel();
            await lookupLoop;

            // Every request was acknowledged; a retried one may report events the dead silo had already made durable as
            // duplicates, but none is lost or counted twice.
            Assert.Equal(rest.Count, acked.Count);
            Assert.Equal(rest.Sum(r => r.Events.Count), acked.Values.Sum(a => a.Accepted + a.Duplicates));
            Assert.NotEmpty(lookups);

            var survivor = silos[0].Client;
            var expected = data.Expected();
            var after = (await WithRetryAsync(() => Population.CustomersAsync(survivor, ids))).ToDictionary(c => c.CustomerId);
            foreach (var id in ids)
            {
                Assert.Equal(expected[id].Frequency, after[id].Rfm.Frequency);
                Assert.Equal(expected[id].Monetary, after[id].Rfm.Monetary, 0.005);
            }
            // Full history: whatever a customer had before the kill is still there, oldest first, wherever it lives now.
            var histories = await WithRetryAsync(() => Population.HistoriesAsync(survivor, ids));
            foreach (var id in known)
            {
                Assert.True(before[id].Count <= histories[id].Count, id);
                Assert.Equal(before[id].AsEnumerable().Reverse(), histories[id].AsEnumerable().Reverse().Take(before[id].Count));
            }

            // The dead silo's shards and unapplied batches are replayed by a survivor: the population adds up again.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                var sizes = await WithRetryAsync(() => survivor.Segments.ListSegmentsAsync(new ListSegmentsRequest()).ResponseAsync);
                if (sizes.Segments.Sum(s => s.Size) == ids.Count || DateTime.UtcNow > deadline)
                {
                    Assert.Equal(ids.Count, sizes.Segments.Sum(s => s.Size));
                    break;
                }
                await Task.Delay(500);
            }
            await Population.AssertMatrixMatchesHistoriesAsync(survivor, ids);
            // Silo 1 serves the same answers as silo 0.
            Assert.Equal(after[ids[7]].Rfm.Frequency, (await silos[1].Client.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = ids[7] })).Rfm.Frequency);
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// The cluster tour of docs/operations.md: three silos in event time, a purchase history imported through silo 0
    /// while the first model rolls out over all three, then <c>engine verify</c> through silo 2. Every customer's
    /// history must be in time order: a move no event brings (the rollout's) is dated no later than the batches of
    /// that customer still on their way from the importing silo.
    /// </summary>
    [SkippableFact]
    public async Task Event_time_cluster_tour_verifies_through_another_silo()
    {
        await using var db = await Postgres.CreateDatabaseAsync();
        var silos = await StartClusterAsync(db.ConnectionString, 3, ("Engine:Clock", "event-time"), ("Engine:DefaultK", "6"));
        try
        {
            var path = Path.Combine(Path.GetTempPath(), $"engine-cdnow-{Guid.NewGuid():N}.txt");
            await File.WriteAllLinesAsync(path, CdnowLike(customers: 20000, seed: 7));
            try
            {
                var import = await EngineCli.RunAsync(silos[0].Client.GrpcAddress, "import", path, "--format", "cdnow");
                Assert.True(import.ExitCode == 0, import.Err);
                var verify = await EngineCli.RunAsync(silos[2].Client.GrpcAddress, "verify", "cdnow", path);
                Assert.True(verify.ExitCode == 0, verify.Out + verify.Err);
                Assert.Contains("\"histories_out_of_time_order\": 0", verify.Out);
                Assert.Contains("verify: OK", verify.Err);
            }
            finally
            {
                File.Delete(path);
            }
        }
        finally
        {
            foreach (var s in silos)
            {
                await s.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A purchase log in CDNOW's layout and shape (every customer's first purchase in the first quarter of 1997, repeat
    /// purchases for some over the following 18 months), generated, so the test does not depend on the real file.
    /// </summary>
    private static IEnumerable<string> CdnowLike(int customers, int seed)
    {
        var rng = new Random(seed);
        var start = new DateTime(1997, 1, 1);
        var end = new DateTime(1998, 6, 30);
        yield return " customer_id  date number_of_cds  dollar_value";
        for (var c = 1; c <= customers; c++)
        {
            var day = start.AddDays(rng.Next(90));
            do
            {
                var cds = 1 + rng.Next(4);
                yield return $" {c:D5} {day:yyyyMMdd} {cds,2} {cds * (8 + rng.NextDouble() * 12),7:F2}";
                day = day.AddDays(1 + (int)(-Math.Log(1 - rng.NextDouble()) * 90));
            }
            while (day <= end && rng.NextDouble() < 0.6);
        }
    }

    /// <summary>
    /// Everyday scaling: two silos take events from two streams; a third joins under load, then the second leaves
    /// gracefully (SIGTERM), while lookups run throughout. Every acknowledged event counts once, histories and the
    /// matrix agree, and a lookup fails, if ever, only with UNAVAILABLE (docs/operations.md: retry it on any silo).
    /// </summary>
    [SkippableFact]
    public async Task A_silo_added_and_another_stopped_under_load_lose_nothing_and_lookups_only_retry()
    {
        await using var db = await Postgres.CreateDatabaseAsync();
        var silos = (await StartClusterAsync(db.ConnectionString, 2)).Append(Silo(db.ConnectionString)).ToArray();
        var serving = new HashSet<EngineProcess> { silos[0], silos[1] };
        bool Serving(EngineProcess p)
        {
            lock (serving)
            {
                return serving.Contains(p);
            }
        }
        try
        {
            var data = Synthetic.Generate(customers: 1500, seed: 29);
            var ids = data.CustomerIds.ToList();
            var requests = Synthetic.Batches(data.Events, 100).ToList();
            var warmup = requests.Count / 4;
            for (var i = 0; i < warmup; i++)
            {
                Assert.Equal(100, (await IngestWithRetryAsync(silos, Serving, requests[i], i)).Response.Accepted);
            }
            await Population.WaitForModelAsync(silos[0].Client);
            var known = requests.Take(warmup).SelectMany(r => r.Events).Select(e => e.CustomerId).Distinct().ToList();

            var rest = requests.Skip(warmup).ToList();
            var acked = new ConcurrentDictionary<int, IngestResponse>();
            var lookupFailures = new ConcurrentBag<StatusCode>();
            var lookups = 0;
            using var stop = new CancellationTokenSource();
            var lookupLoop = Task.Run(async () =>
            {
                var rng = new Random(5);
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        await silos[0].Client.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = known[rng.Next(known.Count)] });
                        Interlocked.Increment(ref lookups);
                    }
                    catch (RpcException ex)
                    {
                        lookupFailures.Add(ex.StatusCode);
                        output.WriteLine($"lookup failed: {ex.StatusCode} {ex.Status.Detail}");
                        await Task.Delay(100);
                    }
                }
            });
            var (joined, left) = (new TaskCompletionSource(), new TaskCompletionSource());
            async Task Client(int offset)
            {
                for (var i = offset; i < rest.Count; i += 2)
                {
                    acked[i] = (await IngestWithRetryAsync(silos, Serving, rest[i], i)).Response;
                    if (i == rest.Count / 3)
                    {
                        await silos[2].StartAsync();
                        lock (serving)
                        {
                            serving.Add(silos[2]);
                        }
                        joined.SetResult();
                    }
                    if (i == 2 * rest.Count / 3)
                    {
                        lock (serving)
                        {
                            serving.Remove(silos[1]);
                        }
                        Assert.Equal(0, await silos[1].TerminateAsync());
                        left.SetResult();
                    }
                }
            }
            await Task.WhenAll(Client(0), Client(1));
            await Task.WhenAll(joined.Task, left.Task);
            stop.Cancel();
            await lookupLoop;

            Assert.Equal(rest.Count, acked.Count);
            Assert.Equal(rest.Sum(r => r.Events.Count), acked.Values.Sum(a => a.Accepted + a.Duplicates));
            output.WriteLine($"{rest.Sum(r => r.Events.Count)} events streamed: {acked.Values.Sum(a => a.Accepted)} accepted, " +
                $"{acked.Values.Sum(a => a.Duplicates)} duplicates of retried requests; {lookups} lookups, failed: " +
                string.Join(", ", lookupFailures.GroupBy(c => c).Select(g => $"{g.Key} × {g.Count()}")));
            Assert.True(lookups > 0);
            Assert.All(lookupFailures, code => Assert.Equal(StatusCode.Unavailable, code));

            var expected = data.Expected();
            foreach (var silo in new[] { silos[0], silos[2] })
            {
                var after = (await Population.CustomersAsync(silo.Client, ids)).ToDictionary(c => c.CustomerId);
                foreach (var id in ids)
                {
                    Assert.Equal(expected[id].Frequency, after[id].Rfm.Frequency);
                    Assert.Equal(expected[id].Monetary, after[id].Rfm.Monetary, 0.005);
                }
            }
            // Rows of customers a shard took unassigned (their first event reached a silo before the model did) are
            // assigned by the shard's next turns; the population adds up once they have run.
            var settling = Stopwatch.StartNew();
            while (true)
            {
                var sizes = await silos[2].Client.Segments.ListSegmentsAsync(new ListSegmentsRequest());
                if (sizes.Segments.Sum(s => s.Size) == ids.Count || settling.Elapsed > TimeSpan.FromSeconds(60))
                {
                    output.WriteLine($"segment sizes added up {settling.Elapsed.TotalSeconds:F1} s after the load");
                    if (sizes.Segments.Sum(s => s.Size) != ids.Count)
                    {
                        // What the customers say beside what the shards count, for whoever reads the failure.
                        var customers = await Population.CustomersAsync(silos[2].Client, ids);
                        output.WriteLine($"shards under model {sizes.ModelVersion}: " +
                            string.Join(", ", sizes.Segments.Select(s => $"{s.SegmentId} {s.Size}")) + "; customers: " +
                            string.Join(", ", customers.GroupBy(c => $"{c.SegmentId}@{c.ModelVersion}").Select(g => $"{g.Key} {g.Count()}")));
                    }
                    Assert.Equal(ids.Count, sizes.Segments.Sum(s => s.Size));
                    break;
                }
                await Task.Delay(250);
            }
            await Population.AssertMatrixMatchesHistoriesAsync(silos[2].Client, ids);
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }
        }
    }
}
