using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public sealed class SegmentNamerTests
{
    private static double[] Centroid(double recency, double frequency, double monetary, double tenure)
    {
        var row = new double[FeatureNames.Count];
        row[FeatureNames.IndexOf(FeatureNames.RecencyDays)] = recency;
        row[FeatureNames.IndexOf(FeatureNames.Frequency)] = frequency;
        row[FeatureNames.IndexOf(FeatureNames.Monetary)] = monetary;
        row[FeatureNames.IndexOf(FeatureNames.TenureDays)] = tenure;
        return row;
    }

    [Fact]
    public void Names_are_unique_and_say_where_the_centroid_sits()
    {
        var population = Centroid(100, 3, 150, 300);
        double[][] centroids =
        [
            Centroid(5, 20, 2000, 500),   // recent, frequent, big
            Centroid(400, 1, 10, 450),    // long gone, one small order
            Centroid(300, 10, 900, 500),  // used to buy a lot, not lately
        ];
        var names = SegmentNamer.Name(centroids.SelectMany(c => c).ToArray(), 3, population);
        Assert.Equal(3, names.Distinct().Count());
        Assert.Equal("Champions", names[0]);
        Assert.Contains(names[1], new[] { "Lost", "Hibernating" });
        Assert.Equal("At risk", names[2]);
    }

    [Fact]
    public void More_segments_than_words_get_numbered_unique_names()
    {
        var population = Centroid(100, 3, 150, 300);
        var centroids = Enumerable.Range(0, 12).SelectMany(i => Centroid(10 + i, 3, 150, 300)).ToArray();
        var names = SegmentNamer.Name(centroids, 12, population);
        Assert.Equal(12, names.Distinct().Count());
    }
}
