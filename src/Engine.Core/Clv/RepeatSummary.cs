namespace Engine.Core.Clv;

/// <summary>
/// One customer's purchase history as the BG/NBD and Gamma-Gamma models see it, time in weeks (Fader, Hardie and
/// Lee 2005): <paramref name="Frequency"/> x = distinct UTC purchase days after the first purchase day;
/// <paramref name="Recency"/> t_x = (last purchase day − first purchase day) / 7; <paramref name="Age"/>
/// T = (day of as_of − first purchase day) / 7; <paramref name="MeanRepeatValue"/> m = mean amount of the repeat days
/// (a day's amount is the sum of its purchases; 0 when x = 0).
/// </summary>
public readonly record struct RepeatSummary(int Frequency, double Recency, double Age, double MeanRepeatValue = 0)
{
    /// <summary>Days per model time unit: the models count time in weeks.</summary>
    public const double DaysPerWeek = 7.0;

    /// <summary>
    /// The summary from whole UTC day numbers (days since any fixed epoch): the first and last purchase day, the
    /// as_of day, the number of distinct purchase days and the summed amount of the days after the first.
    /// </summary>
    public static RepeatSummary FromDays(long firstDay, long lastDay, long asOfDay, int purchaseDays, double repeatAmount)
    {
        var x = Math.Max(0, purchaseDays - 1);
        return new RepeatSummary(
            x,
            (lastDay - firstDay) / DaysPerWeek,
            (Math.Max(asOfDay, lastDay) - firstDay) / DaysPerWeek,
            x > 0 ? repeatAmount / x : 0);
    }
}
