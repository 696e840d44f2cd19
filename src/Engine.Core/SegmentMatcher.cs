namespace Engine.Core;

/// <summary>
/// Which segments of the previous model a new model's centroids continue, so segment ids and names survive a retrain:
/// the Hungarian assignment on centroid distances in the new model's scaled space, kept only within
/// <see cref="MatchDistance"/>. Pure, so the coordinator only loads, decides with this and publishes.
/// </summary>
public static class SegmentMatcher
{
    /// <summary>The farthest a new centroid may be from an old one (new scaled space) and still continue its segment.</summary>
    public const double MatchDistance = 1.0;

    /// <summary>
    /// Centroids scaled by <paramref name="from"/> (row-major, d columns) expressed in the space scaled by
    /// <paramref name="to"/>, in double: the previous model's centroids as the new model sees them.
    /// </summary>
    public static double[] Rescale(ReadOnlySpan<float> centroids, Scaler from, Scaler to)
    {
        var d = from.Mean.Length;
        var result = new double[centroids.Length];
        for (var i = 0; i < centroids.Length; i++)
        {
            var j = i % d;
            var transformed = centroids[i] * from.Std[j] + from.Mean[j];
            result[i] = (transformed - to.Mean[j]) / to.Std[j];
        }
        return result;
    }

    /// <summary>
    /// For each of the <paramref name="k"/> new centroids the index of the previous centroid it continues, or −1. The
    /// previous centroids come already in the new space (<see cref="Rescale"/>).
    /// </summary>
    public static int[] Match(ReadOnlySpan<float> centroids, int k, ReadOnlySpan<double> previousInNewSpace, int previousK, int d)
    {
        var cost = new double[k, previousK];
        for (var c = 0; c < k; c++)
        {
            for (var p = 0; p < previousK; p++)
            {
                var total = 0.0;
                for (var j = 0; j < d; j++)
                {
                    var diff = centroids[c * d + j] - previousInNewSpace[p * d + j];
                    total += diff * diff;
                }
                cost[c, p] = Math.Sqrt(total);
            }
        }
        var match = Hungarian.Solve(cost);
        for (var c = 0; c < k; c++)
        {
            if (match[c] >= 0 && cost[c, match[c]] > MatchDistance)
            {
                match[c] = -1;
            }
        }
        return match;
    }

    /// <summary>
    /// Ids and names for the new centroids: a matched one keeps the previous segment's id and name (a rename included);
    /// the others get the next <c>seg-N</c> ids from <paramref name="nextNumber"/> and their suggested names, made unique
    /// within the model with a numeric suffix. Returns the next free number too.
    /// </summary>
    public static (string[] Ids, string[] Names, int NextNumber) Label(IReadOnlyList<int> match, IReadOnlyList<string> previousIds,
        IReadOnlyList<string> previousNames, IReadOnlyList<string> suggested, int nextNumber)
    {
        var k = match.Count;
        var ids = new string[k];
        var names = new string[k];
        for (var c = 0; c < k; c++)
        {
            if (match[c] >= 0)
            {
                (ids[c], names[c]) = (previousIds[match[c]], previousNames[match[c]]);
            }
        }
        var used = new HashSet<string>(names.OfType<string>(), StringComparer.Ordinal);
        for (var c = 0; c < k; c++)
        {
            if (ids[c] is not null)
            {
                continue;
            }
            ids[c] = $"seg-{nextNumber++}";
            var name = suggested[c];
            for (var suffix = 2; !used.Add(name); suffix++)
            {
                name = $"{suggested[c]} {suffix}";
            }
            names[c] = name;
        }
        return (ids, names, nextNumber);
    }
}
