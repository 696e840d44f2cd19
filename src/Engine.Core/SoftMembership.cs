namespace Engine.Core;

/// <summary>How firmly a point belongs to its nearest centroid.</summary>
public readonly record struct Membership(int Index, double Distance, int SecondIndex, double SecondDistance, double Confidence, double Margin);

public static class SoftMembership
{
    /// <summary>
    /// Nearest and second-nearest centroid, the margin (second distance − nearest distance) and the confidence:
    /// the softmax weight of the nearest centroid over exp(−distance² / temperature).
    /// </summary>
    public static Membership Of(ReadOnlySpan<float> x, ReadOnlySpan<float> centroids, int k, double temperature)
    {
        var d = x.Length;
        var squared = new double[k];
        for (var c = 0; c < k; c++)
        {
            var s = 0.0;
            for (var j = 0; j < d; j++)
            {
                var diff = (double)x[j] - centroids[c * d + j];
                s += diff * diff;
            }
            squared[c] = s;
        }
        var best = 0;
        for (var c = 1; c < k; c++)
        {
            if (squared[c] < squared[best])
            {
                best = c;
            }
        }
        var second = -1;
        for (var c = 0; c < k; c++)
        {
            if (c != best && (second < 0 || squared[c] < squared[second]))
            {
                second = c;
            }
        }
        // Shift by the smallest exponent so the softmax never overflows.
        var t = Math.Max(temperature, 1e-12);
        var denominator = 0.0;
        for (var c = 0; c < k; c++)
        {
            denominator += Math.Exp(-(squared[c] - squared[best]) / t);
        }
        var nearest = Math.Sqrt(squared[best]);
        var runnerUp = second < 0 ? double.PositiveInfinity : Math.Sqrt(squared[second]);
        return new Membership(best, nearest, second, runnerUp, 1 / denominator, second < 0 ? double.PositiveInfinity : runnerUp - nearest);
    }
}
