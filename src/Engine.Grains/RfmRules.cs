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

    /// <summary>
    /// When time alone next changes the named RFM segment of a customer with <paramref name="rfm"/> and its last purchase
    /// at <paramref name="lastPurchaseAt"/> (<see cref="RfmScores.RecencyOfNextSegmentChange"/>), or null when it never
    /// will: the first tick at which the recency is no longer below the cut (R counts the cuts the recency is strictly
    /// less than, so at the cut itself R has fallen), rounded up so that the recency read then has reached it.
    /// </summary>
    public static DateTime? NextSegmentChange(RfmCutPoints? cuts, Rfm rfm, DateTime? lastPurchaseAt)
    {
        if (lastPurchaseAt is not { } last || Scores(cuts, rfm) is not (> 0, var f, _)
            || RfmScores.RecencyOfNextSegmentChange(rfm.RecencyDays, f, cuts!.RecencyDays) is not { } days)
        {
            return null;
        }
        var ticks = Math.Ceiling(days * (double)TimeSpan.TicksPerDay);
        return ticks >= (DateTime.MaxValue - last).Ticks ? null : last.AddTicks((long)ticks);
    }

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
