using Engine.Abstractions;
using Engine.Core;

namespace Engine.Grains;

/// <summary>A model's RFM cut points applied to a customer's RFM values (<see cref="RfmScores"/> has the rules).</summary>
public static class RfmRules
{
    /// <summary>R, F and M scores; all 0 for a customer without a purchase or a model without cut points.</summary>
    public static (int R, int F, int M) Scores(RfmCutPoints? cuts, Rfm rfm)
    {
        if (cuts is null || cuts.IsEmpty || rfm.Frequency <= 0)
        {
            return (0, 0, 0);
        }
        return (RfmScores.RecencyScore(rfm.RecencyDays, cuts.RecencyDays), RfmScores.Score(rfm.Frequency, cuts.Frequency),
            RfmScores.Score(rfm.Monetary, cuts.Monetary));
    }

    /// <summary>The named RFM segment, or null where there are no scores.</summary>
    public static RfmSegment? SegmentOf(RfmCutPoints? cuts, Rfm rfm) =>
        Scores(cuts, rfm) is var (r, f, _) && r > 0 ? RfmScores.SegmentOf(r, f) : null;

    /// <summary>The cut points of the shards' columns together (exact: every value is taken, then sorted once).</summary>
    public static RfmCutPoints CutPoints(IReadOnlyCollection<RfmColumns> parts)
    {
        float[] Column(Func<RfmColumns, float[]> pick) => [.. parts.SelectMany(pick)];
        var recency = Column(p => p.RecencyDays);
        return new RfmCutPoints(RfmScores.CutPoints(recency), RfmScores.CutPoints(Column(p => p.Frequency)),
            RfmScores.CutPoints(Column(p => p.Monetary)), recency.Length);
    }

    /// <summary>
    /// Days from the last purchase to <paramref name="asOf"/>, as the customer computes it (never negative); without a
    /// known purchase time (a row from before format 4) the row's recency aged from its own time.
    /// </summary>
    public static double RecencyAt(DateTime? lastPurchaseAt, float rowRecency, DateTime rowAsOf, DateTime asOf) =>
        lastPurchaseAt is { } last ? Math.Max(0, (asOf - last).TotalDays) : rowRecency + Math.Max(0, (asOf - rowAsOf).TotalDays);
}
