using Engine.Abstractions;
using Engine.Core;

namespace Engine.Grains;

/// <summary>
/// The rows of one shard as dense arrays: raw features (original units, n × d floats), the time they were computed
/// at, and the segment. Segment sizes are kept incrementally so ListSegments never scans. Each row keeps the order key
/// it was produced with (log position, then time), so a late, older row never replaces a newer one.
/// </summary>
public sealed class ShardMatrix
{
    // 4 added each row's last purchase time and, after the raw features, its purchase history; 2 and 3 are still read,
    // their rows without them.
    private const byte FormatVersion = 4;
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly List<string> _ids = [];
    private readonly List<string> _segments = [];
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);
    private float[] _raw = new float[1024 * D];
    private long[] _asOf = new long[1024];
    private long[] _nextWindowChange = new long[1024];
    private long[] _lastSeq = new long[1024];
    private long[] _lastPurchase = new long[1024];
    // Repeat-buying history per row (first and last purchase day, distinct purchase days, repeat-day amount) for the
    // customer-value fit at retrain; purchase days 0 = no purchase.
    private int[] _firstPurchaseDay = new int[1024];
    private int[] _lastPurchaseDay = new int[1024];
    private int[] _purchaseDays = new int[1024];
    private double[] _repeatAmount = new double[1024];

    public static int D => FeatureNames.Count;

    public int Count => _ids.Count;

    public IReadOnlyDictionary<string, long> Counts => _counts;

    public string IdAt(int i) => _ids[i];

    public string SegmentAt(int i) => _segments[i];

    public DateTime AsOfAt(int i) => new(_asOf[i], DateTimeKind.Utc);

    public ReadOnlySpan<float> RawAt(int i) => _raw.AsSpan(i * D, D);

    /// <summary>When a windowed feature of row i next changes by time alone; DateTime.MaxValue when never.</summary>
    public DateTime NextWindowChangeAt(int i) => _nextWindowChange[i] == 0 ? DateTime.MaxValue : new DateTime(_nextWindowChange[i], DateTimeKind.Utc);

    /// <summary>When row i's customer last purchased; null when never (or unknown: a row from a checkpoint before format 4).</summary>
    public DateTime? LastPurchaseAt(int i) => _lastPurchase[i] == 0 ? null : new DateTime(_lastPurchase[i], DateTimeKind.Utc);
    /// <summary>
    /// Row i's RFM values at <paramref name="asOf"/> (frequency and monetary as the row holds them, recency from the
    /// purchase time), or null when the customer has no purchase.
    /// </summary>
    public Engine.Core.Rfm? RfmAt(int i, DateTime asOf)
    {
        var raw = RawAt(i);
        var frequency = (long)raw[FrequencyIndex];
        if (frequency <= 0)
        {
            return null;
        }
        var recency = RfmRules.RecencyAt(LastPurchaseAt(i), raw[RecencyIndex], AsOfAt(i), asOf);
        return new Engine.Core.Rfm(recency, frequency, raw[MonetaryIndex]);
    }

    private static readonly int RecencyIndex = FeatureNames.IndexOf(FeatureNames.RecencyDays);
    private static readonly int FrequencyIndex = FeatureNames.IndexOf(FeatureNames.Frequency);
    private static readonly int MonetaryIndex = FeatureNames.IndexOf(FeatureNames.Monetary);

    /// <summary>Row i's purchase history, or null when the customer had not bought (or the row predates histories).</summary>
    public Engine.Core.Clv.PurchaseHistory? PurchaseHistoryAt(int i) => _purchaseDays[i] > 0
        ? new Engine.Core.Clv.PurchaseHistory(_firstPurchaseDay[i], _lastPurchaseDay[i], _purchaseDays[i], _repeatAmount[i])
        : null;

    public bool TryIndexOf(string customerId, out int index) => _index.TryGetValue(customerId, out index);

    /// <summary>Inserts or replaces a row; returns false (and keeps the stored row) when the row is older than it.</summary>
    public bool Upsert(ShardRow row)
    {
        if (!_index.TryGetValue(row.CustomerId, out var i))
        {
            i = _ids.Count;
            _index[row.CustomerId] = i;
            _ids.Add(row.CustomerId);
            _segments.Add(row.SegmentId);
            Increment(row.SegmentId, 1);
            EnsureCapacity(i + 1);
        }
        else if (row.LogPosition != 0 && (row.LogPosition, row.AsOf.Ticks).CompareTo((_lastSeq[i], _asOf[i])) < 0)
        {
            // (A row without a log position comes from a build before the keys: taken as it is, as it was then.)
            return false;
        }
        else if (_segments[i] != row.SegmentId)
        {
            Increment(_segments[i], -1);
            Increment(row.SegmentId, 1);
            _segments[i] = row.SegmentId;
        }
        row.Raw.AsSpan(0, D).CopyTo(_raw.AsSpan(i * D, D));
        _asOf[i] = row.AsOf.Ticks;
        _nextWindowChange[i] = row.NextWindowChange?.Ticks ?? 0;
        _lastSeq[i] = row.LogPosition;
        _lastPurchase[i] = row.LastPurchaseAt?.Ticks ?? 0;
        _firstPurchaseDay[i] = row.FirstPurchaseDay;
        _lastPurchaseDay[i] = row.LastPurchaseDay;
        _purchaseDays[i] = row.FirstPurchaseDay >= 0 ? row.PurchaseDays : 0;
        _repeatAmount[i] = row.RepeatAmount;
        return true;
    }

    /// <summary>Inserts or replaces a row (unless it is older than the stored one) and returns its index.</summary>
    public int UpsertAndIndex(ShardRow row)
    {
        Upsert(row);
        return _index[row.CustomerId];
    }

    /// <summary>
    /// Removes a customer's row (an erasure); the last row takes its index, so indices held elsewhere (the inactivity
    /// schedule) must be rebuilt. Returns false when there is no such row.
    /// </summary>
    public bool Remove(string customerId)
    {
        if (!_index.Remove(customerId, out var i))
        {
            return false;
        }
        Increment(_segments[i], -1);
        var last = _ids.Count - 1;
        if (i != last)
        {
            _ids[i] = _ids[last];
            _segments[i] = _segments[last];
            CopyRow(last, i);
            _index[_ids[i]] = i;
        }
        _ids.RemoveAt(last);
        _segments.RemoveAt(last);
        ClearRow(last);
        return true;
    }

    /// <summary>Every per-row array's value of row <paramref name="from"/> into row <paramref name="to"/>: one list of them, kept with <see cref="ClearRow"/> and <see cref="EnsureCapacity"/>.</summary>
    private void CopyRow(int from, int to)
    {
        _raw.AsSpan(from * D, D).CopyTo(_raw.AsSpan(to * D, D));
        _asOf[to] = _asOf[from];
        _nextWindowChange[to] = _nextWindowChange[from];
        _lastSeq[to] = _lastSeq[from];
        _lastPurchase[to] = _lastPurchase[from];
        _firstPurchaseDay[to] = _firstPurchaseDay[from];
        _lastPurchaseDay[to] = _lastPurchaseDay[from];
        _purchaseDays[to] = _purchaseDays[from];
        _repeatAmount[to] = _repeatAmount[from];
    }

    private void ClearRow(int i)
    {
        _raw.AsSpan(i * D, D).Clear();
        (_asOf[i], _nextWindowChange[i], _lastSeq[i], _lastPurchase[i]) = (0, 0, 0, 0);
        (_firstPurchaseDay[i], _lastPurchaseDay[i], _purchaseDays[i], _repeatAmount[i]) = (0, 0, 0, 0);
    }

    public void WriteTo(BinaryWriter w)
    {
        w.Write(FormatVersion);
        w.Write(D);
        w.Write(_ids.Count);
        for (var i = 0; i < _ids.Count; i++)
        {
            w.Write(_ids[i]);
            w.Write(_segments[i]);
            w.Write(_asOf[i]);
            w.Write(_nextWindowChange[i]);
            w.Write(_lastSeq[i]);
            w.Write(_lastPurchase[i]);
        }
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(_raw.AsSpan(0, _ids.Count * D));
        w.Write(bytes);
        for (var i = 0; i < _ids.Count; i++)
        {
            w.Write(_firstPurchaseDay[i]);
            w.Write(_lastPurchaseDay[i]);
            w.Write(_purchaseDays[i]);
            w.Write(_repeatAmount[i]);
        }
    }

    public static ShardMatrix ReadFrom(BinaryReader r)
    {
        var version = r.ReadByte();
        if (version is not (2 or 3 or FormatVersion))
        {
            throw new InvalidDataException($"Unknown shard format {version}.");
        }
        var d = r.ReadInt32();
        if (d != D)
        {
            throw new InvalidDataException($"Shard checkpoint has {d} features, this build has {D}.");
        }
        var n = r.ReadInt32();
        var m = new ShardMatrix();
        m.EnsureCapacity(n);
        for (var i = 0; i < n; i++)
        {
            var id = r.ReadString();
            var segment = r.ReadString();
            m._index[id] = i;
            m._ids.Add(id);
            m._segments.Add(segment);
            m.Increment(segment, 1);
            m._asOf[i] = r.ReadInt64();
            m._nextWindowChange[i] = r.ReadInt64();
            // Version 2 had no order keys: its rows count as older than any row produced since.
            if (version >= 3)
            {
                m._lastSeq[i] = r.ReadInt64();
            }
            // Before version 4 no purchase time was kept: RFM recency falls back to the aged row (see ShardGrain).
            if (version >= 4)
            {
                m._lastPurchase[i] = r.ReadInt64();
            }
        }
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(m._raw.AsSpan(0, n * D));
        r.BaseStream.ReadExactly(bytes);
        if (version >= 4)
        {
            for (var i = 0; i < n; i++)
            {
                m._firstPurchaseDay[i] = r.ReadInt32();
                m._lastPurchaseDay[i] = r.ReadInt32();
                m._purchaseDays[i] = r.ReadInt32();
                m._repeatAmount[i] = r.ReadDouble();
            }
        }
        return m;
    }

    private void Increment(string segment, long delta)
    {
        var v = _counts.GetValueOrDefault(segment) + delta;
        if (v == 0)
        {
            _counts.Remove(segment);
        }
        else
        {
            _counts[segment] = v;
        }
    }

    private void EnsureCapacity(int rows)
    {
        if (rows <= _asOf.Length)
        {
            return;
        }
        var capacity = Math.Max(rows, _asOf.Length * 2);
        Array.Resize(ref _raw, capacity * D);
        Array.Resize(ref _asOf, capacity);
        Array.Resize(ref _nextWindowChange, capacity);
        Array.Resize(ref _lastSeq, capacity);
        Array.Resize(ref _lastPurchase, capacity);
        Array.Resize(ref _firstPurchaseDay, capacity);
        Array.Resize(ref _lastPurchaseDay, capacity);
        Array.Resize(ref _purchaseDays, capacity);
        Array.Resize(ref _repeatAmount, capacity);
    }
}
