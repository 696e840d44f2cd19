namespace Engine.Core.Clv;

/// <summary>A distinct customer history and how many customers share it: fits run over distinct histories.</summary>
public readonly record struct WeightedSummary(RepeatSummary Summary, double Weight)
{
    /// <summary>
    /// Groups equal histories. Histories are whole days, so a large population collapses to far fewer distinct
    /// (x, t_x, T) triples and each likelihood evaluation costs per triple, not per customer.
    /// </summary>
    public static List<WeightedSummary> Group(IEnumerable<RepeatSummary> customers, bool withValue)
    {
        var counts = new Dictionary<RepeatSummary, int>();
        foreach (var c in customers)
        {
            var key = withValue ? c with { Recency = 0, Age = 0 } : c with { MeanRepeatValue = 0 };
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return counts.Select(kv => new WeightedSummary(kv.Key, kv.Value)).ToList();
    }
}
