namespace Engine.Core;

/// <summary>One feature's part in a move between segments.</summary>
public readonly record struct FeatureContribution(string Feature, double Contribution);

/// <summary>
/// Why a customer moved: for each feature, how much it favours the new centroid over the old one,
/// (x − old)² − (x − new)² in the model's scaled space. The terms add up to d²(old) − d²(new), the whole reason the
/// new segment is nearer; the largest ones are the features that moved the customer.
/// </summary>
public static class Explanation
{
    /// <summary>
    /// The <paramref name="top"/> largest positive terms, largest first (ties in feature order). Chosen in place, not
    /// sorted: every move by silence explains itself, and an import makes millions of them.
    /// </summary>
    public static FeatureContribution[] Drivers(ReadOnlySpan<float> x, ReadOnlySpan<float> oldCentroid, ReadOnlySpan<float> newCentroid, int top)
    {
        Span<int> chosen = stackalloc int[Math.Min(Math.Max(top, 0), x.Length)];
        Span<double> terms = stackalloc double[x.Length];
        var count = 0;
        for (var j = 0; j < x.Length; j++)
        {
            var toOld = (double)x[j] - oldCentroid[j];
            var toNew = (double)x[j] - newCentroid[j];
            var term = terms[j] = toOld * toOld - toNew * toNew;
            if (!(term > 0))
            {
                continue; // a NaN is no driver either
            }
            // Insertion into the chosen few, after every equal term (a stable order).
            var at = count;
            while (at > 0 && terms[chosen[at - 1]] < term)
            {
                at--;
            }
            if (at >= chosen.Length)
            {
                continue;
            }
            count = Math.Min(count + 1, chosen.Length);
            for (var i = count - 1; i > at; i--)
            {
                chosen[i] = chosen[i - 1];
            }
            chosen[at] = j;
        }
        var drivers = new FeatureContribution[count];
        for (var i = 0; i < count; i++)
        {
            drivers[i] = new FeatureContribution(FeatureNames.All[chosen[i]], terms[chosen[i]]);
        }
        return drivers;
    }
}
