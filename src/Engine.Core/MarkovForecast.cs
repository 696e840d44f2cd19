namespace Engine.Core;

/// <summary>
/// Projects segment sizes forward with a Markov chain: sizes(t + 1) = sizes(t) · P, where P is the row-stochastic
/// per-period transition matrix.
/// </summary>
public static class MarkovForecast
{
    /// <summary>Sizes after 1..periods steps (row per period), from <paramref name="sizes"/> and n × n matrix P.</summary>
    public static double[][] Project(ReadOnlySpan<double> sizes, ReadOnlySpan<double> p, int n, int periods)
    {
        var result = new double[periods][];
        var current = sizes.ToArray();
        for (var t = 0; t < periods; t++)
        {
            var next = new double[n];
            for (var i = 0; i < n; i++)
            {
                for (var j = 0; j < n; j++)
                {
                    next[j] += current[i] * p[i * n + j];
                }
            }
            result[t] = next;
            current = next;
        }
        return result;
    }

    /// <summary>
    /// The per-period matrix from counts of moves and the segment sizes at the start of the window: a row's stays are
    /// the customers that did not move (size − moves out); rows with no customers stay put.
    /// </summary>
    public static double[] PerPeriodMatrix(ReadOnlySpan<long> moves, ReadOnlySpan<double> startSizes, int n, int periods)
    {
        var p = new double[n * n];
        for (var i = 0; i < n; i++)
        {
            var outgoing = 0.0;
            for (var j = 0; j < n; j++)
            {
                if (i != j)
                {
                    outgoing += moves[i * n + j];
                }
            }
            var exposure = startSizes[i] * Math.Max(1, periods);
            if (exposure <= 0)
            {
                p[i * n + i] = 1;
                continue;
            }
            var leave = 0.0;
            for (var j = 0; j < n; j++)
            {
                if (i != j)
                {
                    p[i * n + j] = Math.Min(1, moves[i * n + j] / exposure);
                    leave += p[i * n + j];
                }
            }
            if (leave > 1)
            {
                for (var j = 0; j < n; j++)
                {
                    p[i * n + j] /= leave;
                }
                leave = 1;
            }
            p[i * n + i] = 1 - leave;
        }
        return p;
    }
}
