using System.Numerics.Tensors;

namespace Engine.Core;

/// <summary>
/// Mean silhouette coefficient of a labelled sample: for each point, (b − a) / max(a, b) where a is its mean distance
/// to its own cluster and b the smallest mean distance to another cluster. O(m²) in the sample size, so callers pass
/// a stratified sample, never the population.
/// </summary>
public static class Silhouette
{
    public static double Compute(ReadOnlySpan<float> sample, ReadOnlySpan<int> labels, int d, int k)
    {
        var m = labels.Length;
        var sizes = new int[k];
        foreach (var l in labels)
        {
            sizes[l]++;
        }
        var sumTo = new double[k];
        var total = 0.0;
        var counted = 0;
        for (var i = 0; i < m; i++)
        {
            Array.Clear(sumTo);
            var xi = sample.Slice(i * d, d);
            for (var j = 0; j < m; j++)
            {
                if (j != i)
                {
                    sumTo[labels[j]] += TensorPrimitives.Distance(xi, sample.Slice(j * d, d));
                }
            }
            var own = labels[i];
            if (sizes[own] <= 1)
            {
                continue; // a singleton's silhouette is defined as 0
            }
            var a = sumTo[own] / (sizes[own] - 1);
            var b = double.PositiveInfinity;
            for (var c = 0; c < k; c++)
            {
                if (c != own && sizes[c] > 0)
                {
                    b = Math.Min(b, sumTo[c] / sizes[c]);
                }
            }
            if (double.IsFinite(b))
            {
                var s = Math.Max(a, b) > 0 ? (b - a) / Math.Max(a, b) : 0;
                total += s;
            }
            counted++;
        }
        return counted == 0 ? 0 : total / m;
    }
}
