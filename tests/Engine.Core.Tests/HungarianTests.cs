using Engine.Core;

namespace Engine.Core.Tests;

public sealed class HungarianTests
{
    [Fact]
    public void Solves_a_hand_checked_square_case()
    {
        var cost = new double[,] { { 4, 1, 3 }, { 2, 0, 5 }, { 3, 2, 2 } };
        Assert.Equal([1, 0, 2], Hungarian.Solve(cost));
    }

    [Fact]
    public void Rectangular_matrices_leave_extra_rows_unassigned()
    {
        var wide = Hungarian.Solve(new double[,] { { 5, 1, 9 }, { 1, 5, 9 } });
        Assert.Equal([1, 0], wide);
        var tall = Hungarian.Solve(new double[,] { { 5, 1 }, { 1, 5 }, { 0.5, 0.5 } });
        Assert.Equal(2, tall.Count(c => c >= 0));
        Assert.Equal(-1, tall[2] >= 0 ? tall.First(c => c < 0) : tall[2]);
    }

    [Fact]
    public void Matches_brute_force_on_random_matrices()
    {
        var rng = new Random(11);
        for (var trial = 0; trial < 30; trial++)
        {
            const int n = 6;
            var cost = new double[n, n];
            for (var i = 0; i < n; i++)
            {
                for (var j = 0; j < n; j++)
                {
                    cost[i, j] = rng.Next(0, 100);
                }
            }
            var assignment = Hungarian.Solve(cost);
            var total = Enumerable.Range(0, n).Sum(i => cost[i, assignment[i]]);
            Assert.Equal(Permutations(Enumerable.Range(0, n).ToArray()).Min(p => Enumerable.Range(0, n).Sum(i => cost[i, p[i]])), total);
        }
    }

    private static IEnumerable<int[]> Permutations(int[] items)
    {
        if (items.Length <= 1)
        {
            yield return items;
            yield break;
        }
        for (var i = 0; i < items.Length; i++)
        {
            var rest = items.Where((_, j) => j != i).ToArray();
            foreach (var p in Permutations(rest))
            {
                yield return [items[i], .. p];
            }
        }
    }
}
