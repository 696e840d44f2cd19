namespace Engine.Core;

/// <summary>Transition-matrix arithmetic.</summary>
public static class TransitionMath
{
    /// <summary>Row-normalises an n × n row-major count matrix; a row without moves stays all zeros.</summary>
    public static double[] RowNormalize(ReadOnlySpan<long> counts, int n)
    {
        var p = new double[n * n];
        for (var i = 0; i < n; i++)
        {
            long total = 0;
            for (var j = 0; j < n; j++)
            {
                total += counts[i * n + j];
            }
            if (total == 0)
            {
                continue;
            }
            for (var j = 0; j < n; j++)
            {
                p[i * n + j] = (double)counts[i * n + j] / total;
            }
        }
        return p;
    }

    /// <summary>
    /// A transition matrix from counts of moves (from <see cref="Unassigned"/> = a first assignment): rows and columns are
    /// <paramref name="currentSegments"/>, then any other segment the counts name (a retired one), in ordinal order.
    /// Returns the labels, the row-major from × to counts and the first assignments per segment.
    /// </summary>
    public static (string[] SegmentIds, long[] Counts, long[] Entries) Matrix(IEnumerable<(string From, string To, long Count)> moves,
        IReadOnlyList<string> currentSegments)
    {
        var list = moves.ToList();
        var ids = currentSegments.ToList();
        foreach (var id in list.SelectMany(c => new[] { c.From, c.To }).Where(id => id != Unassigned.SegmentId).Distinct().Order(StringComparer.Ordinal))
        {
            if (!ids.Contains(id))
            {
                ids.Add(id);
            }
        }
        var n = ids.Count;
        var index = ids.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i);
        var counts = new long[n * n];
        var entries = new long[n];
        foreach (var (from, to, count) in list)
        {
            if (from == Unassigned.SegmentId)
            {
                entries[index[to]] += count;
            }
            else
            {
                counts[index[from] * n + index[to]] += count;
            }
        }
        return (ids.ToArray(), counts, entries);
    }

    /// <summary>
    /// Moves between <paramref name="segments"/> only (first assignments and retired segments left out), row-major,
    /// for a forecast over the current model.
    /// </summary>
    public static long[] MovesBetween(IEnumerable<(string From, string To, long Count)> moves, IReadOnlyList<string> segments)
    {
        var n = segments.Count;
        var index = segments.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i);
        var counts = new long[n * n];
        foreach (var (from, to, count) in moves)
        {
            if (index.TryGetValue(from, out var i) && index.TryGetValue(to, out var j))
            {
                counts[i * n + j] += count;
            }
        }
        return counts;
    }
}
