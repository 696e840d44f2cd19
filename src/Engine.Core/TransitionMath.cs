namespace Engine.Core;

/// <summary>Transition-matrix arithmetic.</summary>
public static class TransitionMath
{
    /// <summary>Row-normalises an n × n row-major count matrix; a row without moves stays all zeros.</summary>
    public static double[] RowNormalize(ReadOnlySpan<long> counts, int n)
    {
        var p = new double[n * n];
        for (var i = 0; i < n; i++)
        {
            long total = 0;
            for (var j = 0; j < n; j++)
            {
                total += counts[i * n + j];
            }
            if (total == 0)
            {
                continue;
            }
            for (var j = 0; j < n; j++)
            {
                p[i * n + j] = (double)counts[i * n + j] / total;
            }
        }
        return p;
    }
}
