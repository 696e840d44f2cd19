using System.Diagnostics;
using Prometheus;

namespace Engine.Server.Hosting;

/// <summary>
/// Measures what a silo's health monitor and its callers feel as pauses: how long a work item waits for a thread-pool
/// thread (queued every <see cref="Period"/>; a stall delays it by the stall), and every garbage collection's pause.
/// Orleans itself only complains about a stall of a second or more; these series show the shorter ones, and the bench
/// reads them around its measured load (deploy/bench/HISTORY.md).
/// </summary>
public sealed class RuntimePauseProbe : BackgroundService
{
    private static readonly double[] Buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10];

    public static readonly Histogram ThreadPoolDelay = Metrics.CreateHistogram("engine_threadpool_queue_delay_seconds",
        "Time a probe work item queued every 100 ms waited for a thread-pool thread: a thread-pool stall delays it by the stall.",
        new HistogramConfiguration { Buckets = Buckets });
    public static readonly Histogram GcPause = Metrics.CreateHistogram("engine_gc_pause_seconds",
        "Pause of each garbage collection (as the runtime reports its last collection of each kind, sampled every 100 ms).",
        new HistogramConfiguration { Buckets = Buckets });

    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);
    private static readonly GCKind[] Kinds = [GCKind.Ephemeral, GCKind.FullBlocking, GCKind.Background];
    private readonly long[] _seenGc = new long[Kinds.Length];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var queued = Stopwatch.GetTimestamp();
            ThreadPool.UnsafeQueueUserWorkItem(static q => ThreadPoolDelay.Observe(Stopwatch.GetElapsedTime(q).TotalSeconds), queued, preferLocal: false);
            ObserveNewCollections();
        }
    }

    /// <summary>
    /// The pauses of collections since the last look. Only the latest collection of each kind is kept by the runtime,
    /// so two of one kind within a period count once (a burst of short ephemeral ones; the long ones are what matter).
    /// </summary>
    private void ObserveNewCollections()
    {
        for (var k = 0; k < Kinds.Length; k++)
        {
            var info = GC.GetGCMemoryInfo(Kinds[k]);
            if (info.Index == 0 || info.Index == _seenGc[k])
            {
                continue;
            }
            _seenGc[k] = info.Index;
            var pause = TimeSpan.Zero;
            foreach (var p in info.PauseDurations)
            {
                pause += p;
            }
            GcPause.Observe(pause.TotalSeconds);
        }
    }
}
