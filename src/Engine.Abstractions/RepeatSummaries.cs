using Engine.Core.Clv;

namespace Engine.Abstractions;

/// <summary>
/// A shard's customers who bought, as the customer-value models see them (parallel arrays, one entry per customer):
/// x, t_x and T in whole days (weeks = days / 7) and the mean repeat-day amount m.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.RepeatSummaries")]
public sealed record RepeatSummaries(
    [property: Id(0)] int[] Frequency,
    [property: Id(1)] int[] RecencyDays,
    [property: Id(2)] int[] AgeDays,
    [property: Id(3)] double[] MeanRepeatValue)
{
    public IEnumerable<RepeatSummary> Summaries()
    {
        for (var i = 0; i < Frequency.Length; i++)
        {
            yield return new RepeatSummary(Frequency[i], RecencyDays[i] / RepeatSummary.DaysPerWeek,
                AgeDays[i] / RepeatSummary.DaysPerWeek, MeanRepeatValue[i]);
        }
    }
}
