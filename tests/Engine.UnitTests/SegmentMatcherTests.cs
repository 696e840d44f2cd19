using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public sealed class SegmentMatcherTests
{
    private static readonly Scaler Unit = new([0, 0], [1, 1]);

    [Fact]
    public void Centroids_that_stay_keep_their_ids_and_names_and_one_that_moved_far_is_a_new_segment()
    {
        float[] previous = [0, 0, 5, 5, 10, 0];
        // The same places in another order, the last one moved 3 units away.
        float[] next = [5.2f, 5, 0, 0.1f, 10, 3];
        var old = SegmentMatcher.Rescale(previous, Unit, Unit);
        var match = SegmentMatcher.Match(next, 3, old, 3, 2);
        Assert.Equal([1, 0, -1], match);

        var (ids, names, nextNumber) = SegmentMatcher.Label(match, ["seg-1", "seg-2", "seg-3"], ["Lost", "My VIPs", "Champions"],
            ["Champions", "Lost", "Champions"], 4);
        Assert.Equal(["seg-2", "seg-1", "seg-4"], ids);
        // A renamed segment keeps the name it was given; a new one gets its suggestion, made unique.
        Assert.Equal(["My VIPs", "Lost", "Champions"], names);
        Assert.Equal(5, nextNumber);
    }

    [Fact]
    public void A_new_name_that_is_taken_gets_a_numeric_suffix_and_more_centroids_than_before_get_new_ids()
    {
        var old = SegmentMatcher.Rescale([0, 0], Unit, Unit);
        var match = SegmentMatcher.Match([0, 0, 9, 9, 20, 20], 3, old, 1, 2);
        Assert.Equal([0, -1, -1], match);
        var (ids, names, next) = SegmentMatcher.Label(match, ["seg-7"], ["Lost"], ["Lost", "Lost", "Lost"], 8);
        Assert.Equal(["seg-7", "seg-8", "seg-9"], ids);
        Assert.Equal(["Lost", "Lost 2", "Lost 3"], names);
        Assert.Equal(10, next);
    }

    [Fact]
    public void Old_centroids_are_compared_in_the_new_models_scaled_space()
    {
        // Scaled 1.0 under (mean 10, std 2) is 12 transformed, which is 0.5 under (mean 11, std 2).
        var old = SegmentMatcher.Rescale([1f], new Scaler([10], [2]), new Scaler([11], [2]));
        Assert.Equal(0.5, old[0], 12);
        Assert.Equal([0], SegmentMatcher.Match([0.5f], 1, old, 1, 1));
        Assert.Equal([-1], SegmentMatcher.Match([1.6f], 1, old, 1, 1));
    }
}
