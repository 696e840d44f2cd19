using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public sealed class KChoiceTests
{
    private static readonly int[] Ks = [3, 4, 5, 6];

    [Fact]
    public void Without_a_current_k_the_best_silhouette_wins() =>
        Assert.Equal(2, KChoice.Choose(Ks, [0.50, 0.55, 0.61, 0.60], currentK: 0, margin: 0.02));

    [Fact]
    public void The_current_k_stays_while_the_best_beats_it_by_no_more_than_the_margin()
    {
        Assert.Equal(3, KChoice.Choose(Ks, [0.50, 0.55, 0.61, 0.60], currentK: 6, margin: 0.02));
        Assert.Equal(3, KChoice.Choose(Ks, [0.50, 0.55, 0.619, 0.60], currentK: 6, margin: 0.02));
    }

    [Fact]
    public void Another_k_wins_when_it_beats_the_current_by_more_than_the_margin()
    {
        Assert.Equal(2, KChoice.Choose(Ks, [0.50, 0.55, 0.63, 0.60], currentK: 6, margin: 0.02));
        Assert.Equal(2, KChoice.Choose(Ks, [0.50, 0.55, 0.61, 0.60], currentK: 6, margin: 0));
    }

    [Fact]
    public void A_current_k_outside_the_range_tried_does_not_hold()
    {
        Assert.Equal(1, KChoice.Choose(Ks, [0.50, 0.65, 0.61, 0.60], currentK: 9, margin: 0.5));
    }

    [Fact]
    public void Equal_silhouettes_keep_the_smaller_k() =>
        Assert.Equal(0, KChoice.Choose(Ks, [0.6, 0.6, 0.6, 0.6], currentK: 0, margin: 0.02));

    [Fact]
    public void The_data_seed_depends_on_the_data_only()
    {
        var a = DataSeed.Of([10, 20], [1.5, 2.5, 3.25]);
        Assert.Equal(a, DataSeed.Of([10, 20], [1.5, 2.5, 3.25]));
        Assert.Equal(a, DataSeed.Of([10, 20], [1.5 + 1e-12, 2.5, 3.25]));
        Assert.NotEqual(a, DataSeed.Of([10, 21], [1.5, 2.5, 3.25]));
        Assert.NotEqual(a, DataSeed.Of([10, 20], [1.5, 2.5, 3.5]));
        Assert.True(a > 0);
    }
}
