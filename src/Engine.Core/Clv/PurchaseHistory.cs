namespace Engine.Core.Clv;

/// <summary>
/// What the repeat-buying models need of a customer's purchases, kept live in its profile and shipped in shard rows:
/// first and last UTC purchase day (days since 0001-01-01), the number of distinct purchase days, and the summed
/// amount of the days after the first (a day's amount is the sum of its purchases).
/// </summary>
public readonly record struct PurchaseHistory(int FirstDay, int LastDay, int Days, double RepeatAmount)
{
    /// <summary>The model's view at the UTC day of <paramref name="asOfUtc"/>, time in weeks.</summary>
    public RepeatSummary At(DateTime asOfUtc) =>
        RepeatSummary.FromDays(FirstDay, LastDay, asOfUtc.Ticks / TimeSpan.TicksPerDay, Days, RepeatAmount);
}
