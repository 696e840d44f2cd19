namespace Engine.Core;

/// <summary>
/// Population Stability Index: Σ (p − q) · ln(p / q) between a current distribution p and a baseline q over the same
/// bins. Above 0.2 is conventionally a significant shift. Empty bins are floored at a small share so one empty bin
/// does not make the index infinite.
/// </summary>
public static class Psi
{
    public const double Floor = 1e-4;

    public static double Compute(ReadOnlySpan<double> baseline, ReadOnlySpan<double> current)
    {
        var psi = 0.0;
        for (var i = 0; i < baseline.Length; i++)
        {
            var q = Math.Max(baseline[i], Floor);
            var p = Math.Max(current[i], Floor);
            psi += (p - q) * Math.Log(p / q);
        }
        return psi;
    }

    /// <summary>Counts to shares.</summary>
    public static double[] Shares(ReadOnlySpan<long> counts)
    {
        long total = 0;
        foreach (var c in counts)
        {
            total += c;
        }
        var shares = new double[counts.Length];
        for (var i = 0; i < counts.Length; i++)
        {
            shares[i] = total == 0 ? 0 : (double)counts[i] / total;
        }
        return shares;
    }

    /// <summary>Interior bin edges at the quantiles of <paramref name="values"/> (bins − 1 edges, duplicates removed).</summary>
    public static double[] QuantileEdges(IEnumerable<double> values, int bins)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return [];
        }
        var edges = new SortedSet<double>();
        for (var b = 1; b < bins; b++)
        {
            edges.Add(sorted[(int)((long)b * (sorted.Length - 1) / bins)]);
        }
        return edges.ToArray();
    }

    /// <summary>The bin of <paramref name="value"/>: the number of edges strictly below or equal to it.</summary>
    public static int BinOf(ReadOnlySpan<double> edges, double value)
    {
        var lo = 0;
        var hi = edges.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (value >= edges[mid])
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }
}
