namespace Engine.Core;

/// <summary>
/// Names segments in RFM vocabulary from where their centroids sit relative to the population. Each name has a
/// transparent score built from log-ratios to the population mean (R: more recent, F: more frequent, M: spends more,
/// T: longer tenure; positive = above average); names go greedily to the best-scoring segment, each used once.
/// </summary>
public static class SegmentNamer
{
    private static readonly (string Name, Func<double, double, double, double, double> Score)[] Vocabulary =
    [
        ("Champions", (r, f, m, t) => r + f + m),
        ("Loyal", (r, f, m, t) => f + 0.5 * r + 0.25 * t),
        ("Big spenders", (r, f, m, t) => 1.5 * m - f),
        ("New", (r, f, m, t) => r - 1.5 * t),
        ("Promising", (r, f, m, t) => r - 0.5 * Math.Abs(f) - 0.5 * t),
        ("Need attention", (r, f, m, t) => -(Math.Abs(r) + Math.Abs(f) + Math.Abs(m))),
        ("At risk", (r, f, m, t) => -r + f + m),
        ("Hibernating", (r, f, m, t) => -r - 0.5 * Math.Abs(f)),
        ("Lost", (r, f, m, t) => -r - f - m),
    ];

    /// <summary>
    /// k unique names for k centroids in original units (row-major, <see cref="FeatureNames.Count"/> columns), relative to
    /// the population mean. Deterministic, so the same model always gets the same names.
    /// </summary>
    public static string[] Name(ReadOnlySpan<double> centroidsRaw, int k, ReadOnlySpan<double> populationMeanRaw)
    {
        var d = FeatureNames.Count;
        var recency = FeatureNames.IndexOf(FeatureNames.RecencyDays);
        var frequency = FeatureNames.IndexOf(FeatureNames.Frequency);
        var monetary = FeatureNames.IndexOf(FeatureNames.Monetary);
        var tenure = FeatureNames.IndexOf(FeatureNames.TenureDays);
        static double Ratio(double value, double mean) => Math.Log((Math.Max(0, value) + 1) / (Math.Max(0, mean) + 1));

        var scores = new double[k, Vocabulary.Length];
        for (var c = 0; c < k; c++)
        {
            var row = centroidsRaw.Slice(c * d, d);
            var r = -Ratio(row[recency], populationMeanRaw[recency]);
            var f = Ratio(row[frequency], populationMeanRaw[frequency]);
            var m = Ratio(row[monetary], populationMeanRaw[monetary]);
            var t = Ratio(row[tenure], populationMeanRaw[tenure]);
            for (var v = 0; v < Vocabulary.Length; v++)
            {
                scores[c, v] = Vocabulary[v].Score(r, f, m, t);
            }
        }

        var names = new string?[k];
        var taken = new bool[Vocabulary.Length];
        for (var round = 0; round < Math.Min(k, Vocabulary.Length); round++)
        {
            var (bestC, bestV, best) = (-1, -1, double.NegativeInfinity);
            for (var c = 0; c < k; c++)
            {
                for (var v = 0; v < Vocabulary.Length; v++)
                {
                    if (names[c] is null && !taken[v] && scores[c, v] > best)
                    {
                        (bestC, bestV, best) = (c, v, scores[c, v]);
                    }
                }
            }
            names[bestC] = Vocabulary[bestV].Name;
            taken[bestV] = true;
        }
        // More segments than words: the best word again with a number, still unique.
        var used = new HashSet<string>(names.Where(n => n is not null)!, StringComparer.Ordinal);
        for (var c = 0; c < k; c++)
        {
            if (names[c] is not null)
            {
                continue;
            }
            var v = Enumerable.Range(0, Vocabulary.Length).MaxBy(v => scores[c, v]);
            var name = Vocabulary[v].Name;
            for (var suffix = 2; !used.Add(name); suffix++)
            {
                name = $"{Vocabulary[v].Name} {suffix}";
            }
            names[c] = name;
        }
        return names!;
    }
}
