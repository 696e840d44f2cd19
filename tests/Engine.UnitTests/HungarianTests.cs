using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
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
        var tall = Hungarian.Solve(new double[,] { { 5, 1 }, { 9, 9 }, { 0.5, 7 } });
        Assert.Equal([1, -1, 0], tall);
    }

    [Theory]
    [InlineData(4, 6)]
    [InlineData(6, 4)]
    [InlineData(1, 5)]
    [InlineData(5, 1)]
    public void Rectangular_matches_brute_force(int rows, int cols)
    {
        var rng = new Random(rows * 10 + cols);
        for (var trial = 0; trial < 20; trial++)
        {
            var cost = new double[rows, cols];
            for (var i = 0; i < rows; i++)
            {
                for (var j = 0; j < cols; j++)
                {
                    cost[i, j] = rng.NextDouble() * 100;
                }
            }
            var assignment = Hungarian.Solve(cost);
            var assigned = assignment.Where(c => c >= 0).ToArray();
            Assert.Equal(Math.Min(rows, cols), assigned.Length);
            Assert.Equal(assigned.Length, assigned.Distinct().Count());
            var total = Enumerable.Range(0, rows).Where(i => assignment[i] >= 0).Sum(i => cost[i, assignment[i]]);
            // Brute force over injective maps of the smaller side into the larger one.
            var best = rows <= cols
                ? Permutations(Enumerable.Range(0, cols).ToArray()).Min(p => Enumerable.Range(0, rows).Sum(i => cost[i, p[i]]))
                : Permutations(Enumerable.Range(0, rows).ToArray()).Min(p => Enumerable.Range(0, cols).Sum(j => cost[p[j], j]));
            Assert.Equal(best, total, 1e-9);
        }
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
