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
    public static FeatureContribution[] Drivers(ReadOnlySpan<float> x, ReadOnlySpan<float> oldCentroid, ReadOnlySpan<float> newCentroid, int top)
    {
        var contributions = new FeatureContribution[x.Length];
        for (var j = 0; j < x.Length; j++)
        {
            var toOld = (double)x[j] - oldCentroid[j];
            var toNew = (double)x[j] - newCentroid[j];
            contributions[j] = new FeatureContribution(FeatureNames.All[j], toOld * toOld - toNew * toNew);
        }
        return contributions.OrderByDescending(c => c.Contribution).Take(top).Where(c => c.Contribution > 0).ToArray();
    }
}
