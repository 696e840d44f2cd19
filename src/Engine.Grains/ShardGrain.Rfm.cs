using Engine.Abstractions;
using Engine.Core;

namespace Engine.Grains;

// A shard's RFM answers: its customers' RFM values for a model's cut points, and its customers per named RFM segment.
public sealed partial class ShardGrain
{
    private static readonly int RecencyIndex = FeatureNames.IndexOf(FeatureNames.RecencyDays);
    private static readonly int FrequencyIndex = FeatureNames.IndexOf(FeatureNames.Frequency);
    private static readonly int MonetaryIndex = FeatureNames.IndexOf(FeatureNames.Monetary);

    public async Task<RfmColumns> GetRfmColumnsAsync(DateTime asOf)
    {
        var rows = _rows;
        return await Task.Run(() =>
        {
            var (recency, frequency, monetary) = (new List<float>(), new List<float>(), new List<float>());
            for (var i = 0; i < rows.Count; i++)
            {
                if (ValuesAt(rows, i, asOf) is { } rfm)
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
                if (ValuesAt(rows, i, asOf) is not { } rfm || RfmRules.SegmentOf(cuts, rfm) is not { } segment)
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

    /// <summary>
    /// Row i's RFM values at <paramref name="asOf"/> (frequency and monetary as the row holds them, recency from the
    /// purchase time), or null when the customer has no purchase.
    /// </summary>
    private static Rfm? ValuesAt(ShardMatrix rows, int i, DateTime asOf)
    {
        var raw = rows.RawAt(i);
        var frequency = (long)raw[FrequencyIndex];
        if (frequency <= 0)
        {
            return null;
        }
        var recency = RfmRules.RecencyAt(rows.LastPurchaseAt(i), raw[RecencyIndex], rows.AsOfAt(i), asOf);
        return new Rfm(recency, frequency, raw[MonetaryIndex]);
    }
}
