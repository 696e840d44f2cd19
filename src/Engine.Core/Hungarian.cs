namespace Engine.Core;

/// <summary>
/// Kuhn–Munkres assignment (the O(n³) potentials form) for a rectangular cost matrix, padded to square with zero-cost
/// dummies. Used to match a new model's centroids to the previous model's so segment ids survive a retrain.
/// </summary>
public static class Hungarian
{
    /// <summary>For each row the assigned column, or −1 when there are more rows than columns and the row got none.</summary>
    public static int[] Solve(double[,] cost)
    {
        var rows = cost.GetLength(0);
        var cols = cost.GetLength(1);
        var n = Math.Max(rows, cols);
        // 1-based arrays as in the classic formulation; u, v are the potentials, p[j] the row matched to column j.
        var u = new double[n + 1];
        var v = new double[n + 1];
        var p = new int[n + 1];
        var way = new int[n + 1];
        for (var i = 1; i <= n; i++)
        {
            p[0] = i;
            var j0 = 0;
            var minv = Enumerable.Repeat(double.PositiveInfinity, n + 1).ToArray();
            var used = new bool[n + 1];
            do
            {
                used[j0] = true;
                var i0 = p[j0];
                var delta = double.PositiveInfinity;
                var j1 = 0;
                for (var j = 1; j <= n; j++)
                {
                    if (used[j])
                    {
                        continue;
                    }
                    var c = (i0 <= rows && j <= cols ? cost[i0 - 1, j - 1] : 0) - u[i0] - v[j];
                    if (c < minv[j])
                    {
                        minv[j] = c;
                        way[j] = j0;
                    }
                    if (minv[j] < delta)
                    {
                        delta = minv[j];
                        j1 = j;
                    }
                }
                for (var j = 0; j <= n; j++)
                {
                    if (used[j])
                    {
                        u[p[j]] += delta;
                        v[j] -= delta;
                    }
                    else
                    {
                        minv[j] -= delta;
                    }
                }
                j0 = j1;
            }
            while (p[j0] != 0);
            do
            {
                var j1 = way[j0];
                p[j0] = p[j1];
                j0 = j1;
            }
            while (j0 != 0);
        }
        var result = Enumerable.Repeat(-1, rows).ToArray();
        for (var j = 1; j <= cols; j++)
        {
            if (p[j] >= 1 && p[j] <= rows)
            {
                result[p[j] - 1] = j - 1;
            }
        }
        return result;
    }
}
