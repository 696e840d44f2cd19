using Engine.Core;
using System.CommandLine;
using System.Diagnostics;
using Engine.Grains;
using Engine.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.Bench;

/// <summary>
/// `engine-bench memory`: managed heap per customer in a silo in this process, with the customer's grain active, and
/// after every grain was deactivated (checkpointed) so only the shard row remains. Events go in through the ingest
/// pipeline, as they would from gRPC.
/// </summary>
public static class MemoryBench
{
    public static Command Create()
    {
        var customers = new Option<int>("--customers") { DefaultValueFactory = _ => 1_000_000 };
        var perCustomer = new Option<int>("--events-per-customer") { DefaultValueFactory = _ => 2 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (always on)" };
        var command = new Command("memory", "Bytes per active and per inactive customer") { customers, perCustomer, json };
        command.SetAction(async (parse, ct) =>
        {
            var (n, k) = (parse.GetValue(customers), parse.GetValue(perCustomer));
            await using var silo = await LocalSilo.StartAsync(shards: 8);
            var pipeline = silo.Services.GetRequiredService<IngestPipeline>();
            // Warm the code paths so JIT and pools are in the baseline, not in the per-customer figure.
            await IngestAsync(pipeline, "warm", 1000, 1, ct);
            var baseline = Heap();
            var management = silo.Grains.GetGrain<IManagementGrain>(0);
            var activationsBefore = await management.GetTotalActivationCount();

            var watch = Stopwatch.StartNew();
            await IngestAsync(pipeline, "m", n, k, ct);
            var ingestSeconds = watch.Elapsed.TotalSeconds;
            var active = Heap();
            var activations = await management.GetTotalActivationCount() - activationsBefore;

            Console.Error.WriteLine($"active: {activations} customer activations, heap {active / 1048576.0:F1} MB after {ingestSeconds:F1} s of ingest");

            // Deactivate every customer (each checkpoints as it goes), a chunk at a time: all at once, a million
            // deactivations would queue their checkpoint writes behind each other until Orleans' timeouts cut them.
            watch.Restart();
            const int Chunk = 5_000;
            var total = await management.GetTotalActivationCount();
            for (var i = 0; i < n; i += Chunk)
            {
                await Task.WhenAll(Enumerable.Range(i, Math.Min(Chunk, n - i))
                    .Select(c => silo.Grains.GetGrain<Engine.Abstractions.ICustomerGrain>($"m{c}").AsReference<Orleans.Core.Internal.IGrainManagementExtension>().DeactivateOnIdle().AsTask()));
                total -= Math.Min(Chunk, n - i);
                while (await management.GetTotalActivationCount() > total + Chunk)
                {
                    await Task.Delay(100, ct);
                }
            }
            var remaining = await SettledCountAsync(management, ct);
            var deactivateSeconds = watch.Elapsed.TotalSeconds;
            var sizes = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => silo.Grains.GetGrain<Engine.Abstractions.IShardGrain>(i).GetSizeAsync()));
            var inactive = Heap();

            // The yardstick: the same number of grains that hold nothing, i.e. what Orleans itself costs per activation.
            var bare = Enumerable.Range(0, n).Select(i => silo.Grains.GetGrain<IBaselineGrain>($"bare{i}")).ToArray();
            foreach (var chunk in bare.Chunk(10_000))
            {
                await Task.WhenAll(chunk.Select(g => g.TouchAsync()));
            }
            var bareHeap = Heap();
            foreach (var chunk in bare.Chunk(Chunk))
            {
                await Task.WhenAll(chunk.Select(g => g.AsReference<Orleans.Core.Internal.IGrainManagementExtension>().DeactivateOnIdle().AsTask()));
            }
            await SettledCountAsync(management, ct);
            var bareGone = Heap();

            Json.Print(new
            {
                benchmark = "memory",
                cores = Environment.ProcessorCount,
                customers = n,
                events_per_customer = k,
                customer_activations = activations,
                heap_baseline_mb = Math.Round(baseline / 1048576.0, 1),
                heap_active_mb = Math.Round(active / 1048576.0, 1),
                heap_inactive_mb = Math.Round(inactive / 1048576.0, 1),
                bytes_per_active_customer = Math.Round((active - baseline) / (double)n),
                bytes_per_inactive_customer = Math.Round((inactive - baseline) / (double)n),
                shard_rows = sizes.Sum(),
                bare_orleans_bytes_per_activation = Math.Round((bareHeap - inactive) / (double)n),
                bare_orleans_bytes_left_per_deactivated = Math.Round((bareGone - inactive) / (double)n),
                activations_left = remaining,
                ingest_seconds = Math.Round(ingestSeconds, 1),
                deactivate_seconds = Math.Round(deactivateSeconds, 1),
                working_set_mb = Math.Round(Process.GetCurrentProcess().WorkingSet64 / 1048576.0),
            });
            return 0;
        });
        return command;
    }

    /// <summary>The activation count once it stops changing (deactivations finish in the background).</summary>
    private static async Task<int> SettledCountAsync(IManagementGrain management, CancellationToken ct)
    {
        var remaining = await management.GetTotalActivationCount();
        for (var previous = -1; remaining != previous; await Task.Delay(1000, ct))
        {
            (previous, remaining) = (remaining, await management.GetTotalActivationCount());
        }
        return remaining;
    }

    private static long Heap()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary><paramref name="customers"/> × <paramref name="each"/> purchases, in requests of 10,000 with four in flight.</summary>
    private static async Task IngestAsync(IngestPipeline pipeline, string prefix, int customers, int each, CancellationToken ct)
    {
        var start = DateTime.UtcNow.AddDays(-30);
        var events = Enumerable.Range(0, customers * each).Select(i => new PendingEvent(
            $"{prefix}-{i}", $"{prefix}{i % customers}", EventKind.Purchase, start.AddMinutes(i / customers * 1440 + i % 1440), 10 + i % 90, "cat", null));
        using var window = new SemaphoreSlim(4);
        var pending = new List<Task>();
        foreach (var chunk in events.Chunk(10_000))
        {
            await window.WaitAsync(ct);
            pending.Add(Task.Run(async () =>
            {
                try
                {
                    await pipeline.SubmitAsync(chunk, ct);
                }
                finally
                {
                    window.Release();
                }
            }, ct));
        }
        await Task.WhenAll(pending);
    }
}
