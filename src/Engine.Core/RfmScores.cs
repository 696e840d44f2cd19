namespace Engine.Core;

/// <summary>A named RFM segment: a cell group of the R × F grid (see <see cref="RfmScores.SegmentOf"/>).</summary>
public sealed record RfmSegment(string Id, string Name);

/// <summary>
/// RFM scores 1–5 against a model's cut points, and the named RFM segments (docs/concepts.md, "RFM scores and
/// segments"). Values are compared in single precision, the precision the shards hold features in: a cut point is one
/// customer's value, and the customer whose value it is must compare equal to it whether its value was read from a
/// shard row (training) or from the customer's own profile (a lookup).
/// </summary>
public static class RfmScores
{
    /// <summary>Cut points per measure: the 20, 40, 60 and 80% quantiles.</summary>
    public const int CutCount = 4;

    /// <summary>The prefix of every RFM segment id, which keeps them apart from learned segment ids.</summary>
    public const string IdPrefix = "rfm:";

    public static readonly RfmSegment Hibernating = new("rfm:hibernating", "Hibernating");
    public static readonly RfmSegment AtRisk = new("rfm:at-risk", "At risk");
    public static readonly RfmSegment CantLoseThem = new("rfm:cant-lose-them", "Can't lose them");
    public static readonly RfmSegment AboutToSleep = new("rfm:about-to-sleep", "About to sleep");
    public static readonly RfmSegment NeedAttention = new("rfm:need-attention", "Need attention");
    public static readonly RfmSegment Loyal = new("rfm:loyal", "Loyal");
    public static readonly RfmSegment Promising = new("rfm:promising", "Promising");
    public static readonly RfmSegment New = new("rfm:new", "New");
    public static readonly RfmSegment PotentialLoyalist = new("rfm:potential-loyalist", "Potential loyalist");
    public static readonly RfmSegment Champions = new("rfm:champions", "Champions");

    /// <summary>Every RFM segment, from the most valuable down (the order listings use).</summary>
    public static readonly RfmSegment[] Segments =
    [
        Champions, Loyal, PotentialLoyalist, New, Promising, NeedAttention, AboutToSleep, CantLoseThem, AtRisk, Hibernating,
    ];

    /// <summary>
    /// The cut points of <paramref name="values"/> (one per customer with at least one purchase): for q = 0.2 … 0.8 the
    /// smallest value v such that at least a share q of the values are ≤ v, i.e. the ⌈q·n⌉-th smallest. Empty when
    /// there are no values. <paramref name="values"/> is sorted in place.
    /// </summary>
    public static float[] CutPoints(float[] values)
    {
        var n = values.Length;
        if (n == 0)
        {
            return [];
        }
        Array.Sort(values);
        var cuts = new float[CutCount];
        for (var k = 1; k <= CutCount; k++)
        {
            // ⌈k·n/5⌉ in integers: a share computed in floating point could round k·n/5 up past a whole number.
            var rank = (int)(((long)k * n + CutCount) / (CutCount + 1));
            cuts[k - 1] = values[rank - 1];
        }
        return cuts;
    }

    /// <summary>A value in the precision scores compare in.</summary>
    public static float Value(double v) => Finite.ToFloat(v);

    /// <summary>R: 1 + the number of cut points the recency is strictly less than (recent = 5).</summary>
    public static int RecencyScore(double recencyDays, ReadOnlySpan<float> cuts)
    {
        var v = Value(recencyDays);
        var score = 1;
        foreach (var c in cuts)
        {
            score += v < c ? 1 : 0;
        }
        return score;
    }

    /// <summary>F and M: 1 + the number of cut points the value is strictly greater than.</summary>
    public static int Score(double value, ReadOnlySpan<float> cuts)
    {
        var v = Value(value);
        var score = 1;
        foreach (var c in cuts)
        {
            score += v > c ? 1 : 0;
        }
        return score;
    }

    /// <summary>
    /// The recency (days since the last purchase) at which the named segment of a customer with frequency score
    /// <paramref name="f"/> and recency <paramref name="recencyDays"/> next changes by time alone, or null when it never
    /// will. Time only lowers R, by one at each cut point the recency reaches; the segment changes at the first such cut
    /// where the cell's name differs. <paramref name="recencyCuts"/> ascend, as <see cref="CutPoints"/> makes them.
    /// </summary>
    public static float? RecencyOfNextSegmentChange(double recencyDays, int f, ReadOnlySpan<float> recencyCuts)
    {
        var r = RecencyScore(recencyDays, recencyCuts);
        var segment = SegmentOf(r, f);
        var v = Value(recencyDays);
        foreach (var c in recencyCuts)
        {
            if (v < c && SegmentOf(--r, f) != segment)
            {
                return c;
            }
        }
        return null;
    }

    /// <summary>The named segment of an R and F score (both 1–5); every one of the 25 cells has one.</summary>
    public static RfmSegment SegmentOf(int r, int f)
    {
        if (r is < 1 or > 5 || f is < 1 or > 5)
        {
            throw new ArgumentOutOfRangeException(r is < 1 or > 5 ? nameof(r) : nameof(f), "RFM scores are 1 to 5");
        }
        return r switch
        {
            <= 2 => f <= 2 ? Hibernating : f <= 4 ? AtRisk : CantLoseThem,
            3 => f <= 2 ? AboutToSleep : f == 3 ? NeedAttention : Loyal,
            4 => f == 1 ? Promising : f <= 3 ? PotentialLoyalist : Loyal,
            _ => f == 1 ? New : f <= 3 ? PotentialLoyalist : Champions,
        };
    }

    /// <summary>The segment with this id, or null.</summary>
    public static RfmSegment? Find(string id) => Array.Find(Segments, s => s.Id == id);

    /// <summary>Index of a segment in <see cref="Segments"/>.</summary>
    public static int IndexOf(RfmSegment segment) => Array.IndexOf(Segments, segment);
}
