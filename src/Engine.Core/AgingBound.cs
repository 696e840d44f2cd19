namespace Engine.Core;

/// <summary>
/// How long aging certainly leaves a customer nearest to its own centroid. Aging grows recency and tenure by the same
/// number of days and changes nothing else, and both go through a non-decreasing transform (log1p), so in scaled space
/// the point moves only up those two axes. Between the own centroid o and another c, the point is nearer c when
/// g_c(x) = |x − o|² − |x − c|² = 2x·(c − o) + |o|² − |c|² is positive, and a move of Δ along the two axes changes g_c
/// by 2(c − o)·Δ, at most 2((c − o)⁺_R·Δ_R + (c − o)⁺_T·Δ_T). That bound holds over the whole interval, not only at its
/// start as a speed would: a point whose boundary runs along the aging axes (two segments that differ in spend alone)
/// is safe for as long as the bound says, not for a step that shrinks with its small margin and must be looked at
/// again every step (an import in event time did that a thousand times per event: deploy/bench/HISTORY.md).
/// </summary>
public static class AgingBound
{
    private static readonly int Recency = FeatureNames.IndexOf(FeatureNames.RecencyDays);
    private static readonly int Tenure = FeatureNames.IndexOf(FeatureNames.TenureDays);

    /// <summary>
    /// Days of aging during which scaled point <paramref name="x"/> (raw recency and tenure as given) certainly stays
    /// nearest to centroid <paramref name="own"/>: 0 when it may not be nearest now (a NaN counts as that);
    /// otherwise at least <paramref name="minimumDays"/>, at most <paramref name="horizonDays"/>, and within a sixteenth
    /// (or <paramref name="minimumDays"/>) below the time at which the bound lets it go, so looking again then finds the
    /// crossing within a few looks.
    /// </summary>
    public static double SafeDays(ReadOnlySpan<float> x, ReadOnlySpan<float> centroids, int k, int own,
        double recency, double tenure, double[] mean, double[] std, double minimumDays, double horizonDays)
    {
        var d = x.Length;
        Span<double> g = stackalloc double[k];
        Span<double> growR = stackalloc double[k];
        Span<double> growT = stackalloc double[k];
        var o = centroids.Slice(own * d, d);
        var grows = false;
        for (var c = 0; c < k; c++)
        {
            if (c == own)
            {
                continue;
            }
            var cc = centroids.Slice(c * d, d);
            var gc = 0.0;
            for (var j = 0; j < d; j++)
            {
                var (a, b) = ((double)x[j] - o[j], (double)x[j] - cc[j]);
                gc += a * a - b * b;
            }
            if (!(gc < 0))
            {
                return 0;
            }
            (g[c], growR[c], growT[c]) = (gc, 2 * Math.Max(0.0, cc[Recency] - o[Recency]), 2 * Math.Max(0.0, cc[Tenure] - o[Tenure]));
            grows |= growR[c] > 0 || growT[c] > 0;
        }
        var (r0, t0) = (Scaler.ScaleOne(Recency, recency, mean, std), Scaler.ScaleOne(Tenure, tenure, mean, std));
        if (!double.IsFinite(r0) || !double.IsFinite(t0))
        {
            return 0;
        }
        if (!grows)
        {
            return horizonDays;
        }
        bool MayHaveLeft(double days, Span<double> g, Span<double> growR, Span<double> growT)
        {
            var (dr, dt) = (Scaler.ScaleOne(Recency, recency + days, mean, std) - r0, Scaler.ScaleOne(Tenure, tenure + days, mean, std) - t0);
            for (var c = 0; c < g.Length; c++)
            {
                if (c != own && g[c] + growR[c] * dr + growT[c] * dt >= 0)
                {
                    return true;
                }
            }
            return false;
        }
        // Doubling from the minimum step to the first time the bound lets go, then halving down to the precision.
        var (lo, hi) = (minimumDays, minimumDays);
        while (!MayHaveLeft(hi, g, growR, growT))
        {
            if (hi >= horizonDays)
            {
                return horizonDays;
            }
            lo = hi;
            hi = Math.Min(2 * hi, horizonDays);
        }
        while (hi - lo > Math.Max(minimumDays, lo / 16))
        {
            var mid = lo + (hi - lo) / 2;
            if (MayHaveLeft(mid, g, growR, growT))
            {
                hi = mid;
            }
            else
            {
                lo = mid;
            }
        }
        return lo;
    }
}
