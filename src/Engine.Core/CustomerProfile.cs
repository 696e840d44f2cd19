using Engine.Core.Clv;

namespace Engine.Core;

/// <summary>
/// Live accumulator of one customer's events: lifetime totals plus day buckets for the windowed features.
/// Order-independent: the same events in any order give the same state, so late events need no special case.
/// </summary>
public sealed class CustomerProfile
{
    /// <summary>The longest window any feature uses; older buckets cannot matter again.</summary>
    public const int WindowDays = 90;

    // 2 added the repeat-buying history (first purchase day, its amount, purchase days older than the window); 1 is still read.
    private const byte FormatVersion = 2;
    // Exact-size arrays rather than lists: a new day reallocates, but a million idle profiles carry no spare capacity.
    private DayBucket[] _buckets = [];
    // Distinct categories in a plain array: a customer has a handful, and a HashSet costs ~200 bytes even for one,
    // times every active customer.
    private string[] _categories = [];
    // The repeat-buying history (BG/NBD's x, t_x, T and Gamma-Gamma's m), bounded like the rest: distinct purchase days
    // are the first purchase day, the day buckets with purchases, and a count of the purchase days that left the window.
    private int _firstPurchaseDay = -1;
    private int _olderPurchaseDays;

    /// <summary>Summed purchase amounts of the first purchase day; the repeat amount is the rest of <see cref="PurchaseAmount"/>.</summary>
    public double FirstDayAmount { get; private set; }

    /// <summary>Earliest event of any kind (UTC); tenure is measured from here.</summary>
    public DateTime? FirstEventAt { get; private set; }

    /// <summary>Latest event of any kind (UTC); bucket pruning is anchored here, not at the clock, to stay order-independent.</summary>
    public DateTime? LastEventAt { get; private set; }

    /// <summary>Latest purchase (UTC); recency is measured from here.</summary>
    public DateTime? LastPurchaseAt { get; private set; }

    /// <summary>Lifetime purchase count (RFM frequency).</summary>
    public long Purchases { get; private set; }

    /// <summary>Lifetime refund count.</summary>
    public long Refunds { get; private set; }

    /// <summary>Lifetime sum of purchase amounts.</summary>
    public double PurchaseAmount { get; private set; }

    /// <summary>Lifetime sum of refund amounts, as positive values, so monetary = purchases − refunds.</summary>
    public double RefundAmount { get; private set; }

    /// <summary>Every applied event, including page views and signups, which feed nothing else.</summary>
    public long EventCount { get; private set; }

    /// <summary>Distinct non-empty purchase categories (ordinal, case-sensitive): breadth of interest.</summary>
    public int CategoryCount => _categories.Length;

    /// <summary>
    /// Folds one event in. Every update is a commutative sum, min or max, so replays, retries and late events
    /// need no ordering; an event older than the kept window still counts toward the lifetime totals. Amounts add up
    /// saturating (<see cref="Finite.Add"/>): a sum past double's range stays the largest finite value, and a negative
    /// or non-finite amount (the edge rejects both) counts as 0.
    /// </summary>
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
                PurchaseAmount = Finite.Add(PurchaseAmount, amount);
                NotePurchaseDay(DayOf(occurredAtUtc), amount);
                if (LastPurchaseAt is null || occurredAtUtc > LastPurchaseAt)
                {
                    LastPurchaseAt = occurredAtUtc;
                }
                if (!string.IsNullOrEmpty(category))
                {
                    AddCategory(category);
                }
                break;
            case EventKind.Refund:
                Refunds++;
                RefundAmount = Finite.Add(RefundAmount, amount);
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

    /// <summary>
    /// An independent copy: later <see cref="Apply"/> calls on either leave the other as it was. The day buckets are
    /// the only state changed in place; the category array is replaced whole when it grows, so the copies share it.
    /// </summary>
    public CustomerProfile Clone()
    {
        var copy = (CustomerProfile)MemberwiseClone();
        copy._buckets = (DayBucket[])_buckets.Clone();
        return copy;
    }

    /// <summary>
    /// The repeat-buying history: first and last purchase day, distinct purchase days and the summed amount of the days
    /// after the first; null before the first purchase. Exact whatever the order of events, except for a purchase that
    /// arrives more than 90 days older than the latest event on a day other than the first purchase day: its day
    /// is no longer kept, so it counts as a new purchase day.
    /// </summary>
    public PurchaseHistory? PurchaseHistory
    {
        get
        {
            if (_firstPurchaseDay < 0 || LastPurchaseAt is not { } last)
            {
                return null;
            }
            var days = 1 + _olderPurchaseDays;
            foreach (var b in _buckets)
            {
                if (b.Purchases > 0 && b.Day != _firstPurchaseDay)
                {
                    days++;
                }
            }
            return new PurchaseHistory(_firstPurchaseDay, DayOf(last), days, Math.Max(0, PurchaseAmount - FirstDayAmount));
        }
    }

    private void NotePurchaseDay(int day, double amount)
    {
        var clean = double.IsFinite(amount) && amount > 0 ? amount : 0;
        if (_firstPurchaseDay < 0 || day < _firstPurchaseDay)
        {
            // The old first day becomes a repeat day; if its bucket has left the window it is counted here.
            if (_firstPurchaseDay >= 0 && !Array.Exists(_buckets, b => b.Day == _firstPurchaseDay && b.Purchases > 0))
            {
                _olderPurchaseDays++;
            }
            _firstPurchaseDay = day;
            FirstDayAmount = clean;
        }
        else if (day == _firstPurchaseDay)
        {
            FirstDayAmount = Finite.Add(FirstDayAmount, clean);
        }
    }

    /// <summary>
    /// RFM as of <paramref name="asOfUtc"/>, clamped at zero days when events are later than it. A customer who never
    /// bought gets recency = tenure: "as long ago as we have known them" ranks them with the long-lapsed.
    /// </summary>
    public Rfm ComputeRfm(DateTime asOfUtc)
    {
        var tenure = Days(FirstEventAt, asOfUtc);
        var recency = LastPurchaseAt is null ? tenure : Days(LastPurchaseAt, asOfUtc);
        return new Rfm(recency, Purchases, Finite.Clamp(PurchaseAmount - RefundAmount));
    }

    /// <summary>
    /// Writes the features in <see cref="FeatureNames.All"/> order, in original units; as-of is a parameter so a model
    /// can score every customer at one consistent instant.
    /// </summary>
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
        // Every state a customer can reach gives finite features: whatever the sums hold, no NaN or infinity leaves here.
        Finite.ClampAll(raw);
    }

    /// <summary>
    /// The next moment after <paramref name="asOfUtc"/> at which a windowed feature changes by time alone (a day
    /// bucket leaves its 30- or 90-day window), or null when none will. Recency and tenure change continuously.
    /// </summary>
    public DateTime? NextWindowChange(DateTime asOfUtc)
    {
        var asOfDay = DayOf(asOfUtc);
        int? next = null;
        foreach (var b in _buckets)
        {
            // A bucket leaves a W-day window on day b.Day + W (the window then covers days > b.Day).
            if (b.Sessions > 0 && b.Day + 30 > asOfDay)
            {
                next = Math.Min(next ?? int.MaxValue, b.Day + 30);
            }
            if ((b.Purchases > 0 || b.CartAdds > 0 || b.CartAbandons > 0 || b.Tickets > 0) && b.Day + WindowDays > asOfDay)
            {
                next = Math.Min(next ?? int.MaxValue, b.Day + WindowDays);
            }
        }
        return next is { } day ? new DateTime(day * TimeSpan.TicksPerDay, DateTimeKind.Utc) : null;
    }

    /// <summary>
    /// Compact, versioned checkpoint (first byte = format version) so a profile can be persisted and restored
    /// without replaying its events. Categories are written sorted, so equal profiles give equal bytes.
    /// </summary>
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
        w.Write(_categories.Length);
        foreach (var c in _categories.Order(StringComparer.Ordinal))
        {
            w.Write(c);
        }
        w.Write(_buckets.Length);
        foreach (var b in _buckets)
        {
            w.Write(b.Day);
            w.Write(b.Purchases);
            w.Write(b.Sessions);
            w.Write(b.CartAdds);
            w.Write(b.CartAbandons);
            w.Write(b.Tickets);
        }
        w.Write(_firstPurchaseDay);
        w.Write(FirstDayAmount);
        w.Write(_olderPurchaseDays);
    }

    /// <summary>The <see cref="WriteTo"/> checkpoint as bytes.</summary>
    public byte[] ToBytes()
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer))
        {
            WriteTo(writer);
        }
        return buffer.ToArray();
    }

    /// <summary>A profile from <see cref="ToBytes"/>.</summary>
    public static CustomerProfile FromBytes(byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes));
        return ReadFrom(reader);
    }

    /// <summary>Restores a <see cref="WriteTo"/> checkpoint; an unknown version fails loudly rather than misreading.</summary>
    public static CustomerProfile ReadFrom(BinaryReader r)
    {
        var version = r.ReadByte();
        if (version is not (1 or FormatVersion))
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
            p.AddCategory(r.ReadString());
        }
        p._buckets = new DayBucket[r.ReadInt32()];
        for (var i = 0; i < p._buckets.Length; i++)
        {
            p._buckets[i] = new DayBucket(r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32());
        }
        if (version >= 2)
        {
            p._firstPurchaseDay = r.ReadInt32();
            p.FirstDayAmount = r.ReadDouble();
            p._olderPurchaseDays = r.ReadInt32();
        }
        else
        {
            p.RestoreHistoryFromVersion1();
        }
        return p;
    }

    /// <summary>
    /// Format 1 kept no repeat-buying history; it is rebuilt from what it kept. Exact for customers whose purchases all
    /// fall in the kept window; otherwise each older purchase counts as its own day, the first event's day stands for
    /// the first purchase day, and that day is given the average purchase amount.
    /// </summary>
    private void RestoreHistoryFromVersion1()
    {
        if (Purchases == 0 || LastPurchaseAt is null)
        {
            return;
        }
        var windowPurchases = _buckets.Sum(b => (long)b.Purchases);
        var windowDays = _buckets.Where(b => b.Purchases > 0).Select(b => b.Day).ToList();
        if (windowPurchases >= Purchases && windowDays.Count > 0)
        {
            _firstPurchaseDay = windowDays[0];
            var share = (double)_buckets.First(b => b.Day == _firstPurchaseDay).Purchases / Purchases;
            FirstDayAmount = windowDays.Count == 1 ? PurchaseAmount : PurchaseAmount * share;
            return;
        }
        _firstPurchaseDay = DayOf(FirstEventAt ?? LastPurchaseAt.Value);
        _olderPurchaseDays = (int)Math.Min(int.MaxValue, Math.Max(0, Purchases - windowPurchases - 1));
        FirstDayAmount = PurchaseAmount / Purchases;
    }

    private void AddCategory(string category)
    {
        if (Array.IndexOf(_categories, category) < 0)
        {
            _categories = [.. _categories, Categories.Share(category)];
        }
    }

    /// <summary>
    /// One string instance per category name across all profiles (each event arrives with its own copy). Bounded, so
    /// a flood of distinct names costs at most the pool; past it names are kept as they came.
    /// </summary>
    private static class Categories
    {
        private const int Capacity = 100_000;
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Pool = new(StringComparer.Ordinal);

        public static string Share(string name) =>
            Pool.TryGetValue(name, out var shared) ? shared : Pool.Count < Capacity ? Pool.GetOrAdd(name, name) : name;
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
        // Scan from the newest end: events mostly arrive in time order, so this is usually one comparison.
        var i = _buckets.Length;
        while (i > 0 && _buckets[i - 1].Day > day)
        {
            i--;
        }
        if (i > 0 && _buckets[i - 1].Day == day)
        {
            _buckets[i - 1] = _buckets[i - 1].Add(counts);
        }
        else
        {
            _buckets = [.. _buckets.AsSpan(0, i), counts with { Day = day }, .. _buckets.AsSpan(i)];
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
        while (stale < _buckets.Length && _buckets[stale].Day <= oldest)
        {
            if (_buckets[stale].Purchases > 0 && _buckets[stale].Day != _firstPurchaseDay)
            {
                _olderPurchaseDays++;
            }
            stale++;
        }
        if (stale > 0)
        {
            _buckets = _buckets[stale..];
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
