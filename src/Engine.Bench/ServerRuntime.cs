using System.Globalization;
using Engine.Testing;

namespace Engine.Bench;

/// <summary>
/// A server's runtime as its /metrics reads before and after a measured load (the difference is the load's): its pause
/// histograms (<c>engine_threadpool_queue_delay_seconds</c>, <c>engine_gc_pause_seconds</c>) and the JIT's compile time
/// so far (the runtime meter's <c>dotnet.jit.compilation.time</c>; null before the first scrape has started forwarding it).
/// </summary>
public sealed record ServerRuntime(SortedDictionary<double, long> ThreadPool, SortedDictionary<double, long> Gc, double? JitSeconds)
{
    public static async Task<ServerRuntime> ReadAsync(HttpClient http, string address, CancellationToken ct = default)
    {
        var text = await http.GetStringAsync($"{address}/metrics", ct);
        return new(Buckets(text, "engine_threadpool_queue_delay_seconds"), Buckets(text, "engine_gc_pause_seconds"),
            MetricsText.First(text, "system_runtime_dotnet_jit_compilation_time"));
    }

    /// <summary>Cumulative bucket counts by upper bound (+Inf as infinity).</summary>
    private static SortedDictionary<double, long> Buckets(string metrics, string name)
    {
        var buckets = new SortedDictionary<double, long>();
        var prefix = $"{name}_bucket{{le=\"";
        foreach (var line in metrics.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var le = line[prefix.Length..line.IndexOf('"', prefix.Length)];
            var bound = le == "+Inf" ? double.PositiveInfinity : double.Parse(le, CultureInfo.InvariantCulture);
            buckets[bound] = (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
        }
        return buckets;
    }

    /// <summary>What happened between <paramref name="before"/> and this reading, as the bench JSON reports it.</summary>
    public object Since(ServerRuntime before) => new
    {
        threadpool_probes = Count(ThreadPool, before.ThreadPool, double.PositiveInfinity),
        threadpool_delays_over_500ms = Count(ThreadPool, before.ThreadPool, double.PositiveInfinity) - Count(ThreadPool, before.ThreadPool, 0.5),
        threadpool_delay_max_at_most_s = MaxBound(ThreadPool, before.ThreadPool),
        gc_pauses = Count(Gc, before.Gc, double.PositiveInfinity),
        gc_pauses_over_100ms = Count(Gc, before.Gc, double.PositiveInfinity) - Count(Gc, before.Gc, 0.1),
        gc_pause_max_at_most_s = MaxBound(Gc, before.Gc),
    };

    private static long Count(SortedDictionary<double, long> now, SortedDictionary<double, long> then, double le) =>
        now.GetValueOrDefault(le) - then.GetValueOrDefault(le);

    /// <summary>The smallest bucket bound every observation of the interval fits under (null without observations; "inf" beyond the last).</summary>
    private static string? MaxBound(SortedDictionary<double, long> now, SortedDictionary<double, long> then)
    {
        var total = Count(now, then, double.PositiveInfinity);
        if (total == 0)
        {
            return null;
        }
        var bound = now.Keys.First(le => Count(now, then, le) == total);
        return double.IsPositiveInfinity(bound) ? "inf" : bound.ToString(CultureInfo.InvariantCulture);
    }
}
