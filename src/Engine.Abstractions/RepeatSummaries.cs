using Engine.Core.Clv;

namespace Engine.Abstractions;

/// <summary>
/// A shard's customers who bought, as the customer-value models see them (<see cref="RepeatSummary"/> as parallel
/// arrays, one entry per customer): x, t_x and T in weeks and the mean repeat-day amount m.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.RepeatSummaries")]
public sealed record RepeatSummaries(
    [property: Id(0)] int[] Frequency,
    [property: Id(1)] double[] Recency,
    [property: Id(2)] double[] Age,
    [property: Id(3)] double[] MeanRepeatValue)
{
    public static RepeatSummaries Of(IReadOnlyList<RepeatSummary> summaries) => new(
        [.. summaries.Select(s => s.Frequency)], [.. summaries.Select(s => s.Recency)],
        [.. summaries.Select(s => s.Age)], [.. summaries.Select(s => s.MeanRepeatValue)]);

    public IEnumerable<RepeatSummary> Summaries()
    {
        for (var i = 0; i < Frequency.Length; i++)
        {
            yield return new RepeatSummary(Frequency[i], Recency[i], Age[i], MeanRepeatValue[i]);
        }
    }
}
