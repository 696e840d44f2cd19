using Engine.Abstractions;
using Engine.Core;

namespace Engine.Grains;

// A shard's RFM answers: its customers' RFM values for a model's cut points, and its customers per named RFM segment.
public sealed partial class ShardGrain
{
    public async Task<RfmColumns> GetRfmColumnsAsync(DateTime asOf)
    {
        var rows = _rows;
        return await Task.Run(() =>
        {
            var (recency, frequency, monetary) = (new List<float>(), new List<float>(), new List<float>());
            for (var i = 0; i < rows.Count; i++)
            {
                if (rows.RfmAt(i, asOf) is { } rfm)
                {
                    recency.Add(RfmScores.Value(rfm.RecencyDays));
                    frequency.Add(RfmScores.Value(rfm.Frequency));
                    monetary.Add(RfmScores.Value(rfm.Monetary));
                }
            }
            return new RfmColumns([.. recency], [.. frequency], [.. monetary]);
        });
    }

    public async Task<RfmTally> GetRfmTallyAsync(RfmCutPoints cuts)
    {
        var (rows, asOf, fit) = (_rows, clock.Now, models.Current?.Clv);
        return await Task.Run(() =>
        {
            var tally = RfmTally.Empty(RfmScores.Segments.Length);
            var without = 0L;
            for (var i = 0; i < rows.Count; i++)
            {
                if (rows.RfmAt(i, asOf) is not { } rfm || RfmRules.SegmentOf(cuts, rfm) is not { } segment)
                {
                    without++;
                    continue;
                }
                var s = RfmScores.IndexOf(segment);
                tally.Customers[s]++;
                tally.Monetary[s] = Finite.Clamp(tally.Monetary[s] + rfm.Monetary);
                if (ValueAt(rows, i, fit, asOf) is { } value)
                {
                    tally.PAliveSums[s] += value.PAlive;
                    tally.ClvSums[s] = Finite.Clamp(tally.ClvSums[s] + value.Clv);
                }
            }
            return tally with { WithoutPurchase = without };
        });
    }
}
