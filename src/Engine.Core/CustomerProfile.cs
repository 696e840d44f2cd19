namespace Engine.Core;

/// <summary>
/// Live accumulator of one customer's events: lifetime totals plus day buckets for the windowed features.
/// Order-independent: the same events in any order give the same state, so late events need no special case.
/// </summary>
public sealed class CustomerProfile
{
    /// <summary>The longest window any feature uses; older buckets cannot matter again.</summary>
    public const int WindowDays = 90;

    private const byte FormatVersion = 1;
    private readonly List<DayBucket> _buckets = [];
    private readonly HashSet<string> _categories = new(StringComparer.Ordinal);

    public DateTime? FirstEventAt { get; private set; }
    public DateTime? LastEventAt { get; private set; }
    public DateTime? LastPurchaseAt { get; private set; }
    public long Purchases { get; private set; }
    public long Refunds { get; private set; }
    public double PurchaseAmount { get; private set; }
    public double RefundAmount { get; private set; }
    public long EventCount { get; private set; }
    public int CategoryCount => _categories.Count;

    public void Apply(EventKind kind, DateTime occurredAtUtc, double amount, string? category)
    {
        EventCount++;
        if (FirstEventAt is null || occurredAtUtc < FirstEventAt)
        {
            FirstEventAt = occurredAtUtc;
        }
        if (LastEventAt is null || occurredAtUtc > LastEventAt)
        {
            LastEventAt = occurredAtUtc;
        }
        switch (kind)
        {
            case EventKind.Purchase:
                Purchases++;
                PurchaseAmount += amount;
                if (LastPurchaseAt is null || occurredAtUtc > LastPurchaseAt)
                {
                    LastPurchaseAt = occurredAtUtc;
                }
                if (!string.IsNullOrEmpty(category))
                {
                    _categories.Add(category);
                }
                break;
            case EventKind.Refund:
                Refunds++;
                RefundAmount += amount;
                break;
        }
        var counts = kind switch
        {
            EventKind.Purchase => new DayBucket(0, 1, 0, 0, 0, 0),
            EventKind.Session => new DayBucket(0, 0, 1, 0, 0, 0),
            EventKind.CartAdd => new DayBucket(0, 0, 0, 1, 0, 0),
            EventKind.CartAbandon => new DayBucket(0, 0, 0, 0, 1, 0),
            EventKind.SupportTicket => new DayBucket(0, 0, 0, 0, 0, 1),
            _ => default,
        };
        if (!counts.IsEmpty)
        {
            AddToBucket(DayOf(occurredAtUtc), counts);
        }
        Prune();
    }

    public Rfm ComputeRfm(DateTime asOfUtc)
    {
        var tenure = Days(FirstEventAt, asOfUtc);
        var recency = LastPurchaseAt is null ? tenure : Days(LastPurchaseAt, asOfUtc);
        return new Rfm(recency, Purchases, PurchaseAmount - RefundAmount);
    }

    /// <summary>Writes the features in <see cref="FeatureNames.All"/> order, in original units.</summary>
    public void ComputeFeatures(DateTime asOfUtc, Span<double> raw)
    {
        if (raw.Length != FeatureNames.Count)
        {
            throw new ArgumentException($"Expected {FeatureNames.Count} slots.", nameof(raw));
        }
        var rfm = ComputeRfm(asOfUtc);
        var asOfDay = DayOf(asOfUtc);
        var w90 = Window(asOfDay, 90);
        var w30 = Window(asOfDay, 30);
        raw[0] = rfm.RecencyDays;
        raw[1] = rfm.Frequency;
        raw[2] = rfm.Monetary;
        raw[3] = Purchases == 0 ? 0 : PurchaseAmount / Purchases;
        raw[4] = Days(FirstEventAt, asOfUtc);
        raw[5] = w90.Purchases;
        raw[6] = w30.Sessions;
        raw[7] = w90.CartAdds == 0 ? 0 : Math.Min(1.0, (double)w90.CartAbandons / w90.CartAdds);
        raw[8] = w90.Tickets;
        raw[9] = CategoryCount;
        raw[10] = PurchaseAmount == 0 ? 0 : RefundAmount / PurchaseAmount;
    }

    public void WriteTo(BinaryWriter w)
    {
        w.Write(FormatVersion);
        WriteTime(w, FirstEventAt);
        WriteTime(w, LastEventAt);
        WriteTime(w, LastPurchaseAt);
        w.Write(Purchases);
        w.Write(Refunds);
        w.Write(PurchaseAmount);
        w.Write(RefundAmount);
        w.Write(EventCount);
        w.Write(_categories.Count);
        foreach (var c in _categories.Order(StringComparer.Ordinal))
        {
            w.Write(c);
        }
        w.Write(_buckets.Count);
        foreach (var b in _buckets)
        {
            w.Write(b.Day);
            w.Write(b.Purchases);
            w.Write(b.Sessions);
            w.Write(b.CartAdds);
            w.Write(b.CartAbandons);
            w.Write(b.Tickets);
        }
    }

    public static CustomerProfile ReadFrom(BinaryReader r)
    {
        var version = r.ReadByte();
        if (version != FormatVersion)
        {
            throw new InvalidDataException($"Unknown customer profile format {version}.");
        }
        var p = new CustomerProfile
        {
            FirstEventAt = ReadTime(r),
            LastEventAt = ReadTime(r),
            LastPurchaseAt = ReadTime(r),
            Purchases = r.ReadInt64(),
            Refunds = r.ReadInt64(),
            PurchaseAmount = r.ReadDouble(),
            RefundAmount = r.ReadDouble(),
            EventCount = r.ReadInt64(),
        };
        var categories = r.ReadInt32();
        for (var i = 0; i < categories; i++)
        {
            p._categories.Add(r.ReadString());
        }
        var buckets = r.ReadInt32();
        for (var i = 0; i < buckets; i++)
        {
            p._buckets.Add(new DayBucket(r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32()));
        }
        return p;
    }

    private static int DayOf(DateTime t) => (int)(t.Ticks / TimeSpan.TicksPerDay);

    private static double Days(DateTime? from, DateTime to) => from is { } f ? Math.Max(0, (to - f).TotalDays) : 0;

    /// <summary>Sums the buckets of the days d with asOfDay − days &lt; d ≤ asOfDay.</summary>
    private DayBucket Window(int asOfDay, int days)
    {
        var sum = new DayBucket(0, 0, 0, 0, 0, 0);
        foreach (var b in _buckets)
        {
            if (b.Day > asOfDay - days && b.Day <= asOfDay)
            {
                sum = sum.Add(b);
            }
        }
        return sum;
    }

    private void AddToBucket(int day, DayBucket counts)
    {
        var i = _buckets.FindIndex(b => b.Day >= day);
        if (i >= 0 && _buckets[i].Day == day)
        {
            _buckets[i] = _buckets[i].Add(counts);
        }
        else
        {
            _buckets.Insert(i < 0 ? _buckets.Count : i, counts with { Day = day });
        }
    }

    /// <summary>Drops buckets that no window can reach again: older than 90 days before the latest event.</summary>
    private void Prune()
    {
        if (LastEventAt is not { } last)
        {
            return;
        }
        var oldest = DayOf(last) - WindowDays;
        var stale = 0;
        while (stale < _buckets.Count && _buckets[stale].Day <= oldest)
        {
            stale++;
        }
        if (stale > 0)
        {
            _buckets.RemoveRange(0, stale);
        }
    }

    private static void WriteTime(BinaryWriter w, DateTime? t) => w.Write(t?.Ticks ?? -1L);

    private static DateTime? ReadTime(BinaryReader r)
    {
        var ticks = r.ReadInt64();
        return ticks < 0 ? null : new DateTime(ticks, DateTimeKind.Utc);
    }

    private readonly record struct DayBucket(int Day, int Purchases, int Sessions, int CartAdds, int CartAbandons, int Tickets)
    {
        public bool IsEmpty => Purchases == 0 && Sessions == 0 && CartAdds == 0 && CartAbandons == 0 && Tickets == 0;

        public DayBucket Add(DayBucket o) => new(Day, Purchases + o.Purchases, Sessions + o.Sessions, CartAdds + o.CartAdds,
            CartAbandons + o.CartAbandons, Tickets + o.Tickets);
    }
}
