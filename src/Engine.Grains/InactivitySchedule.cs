using Engine.Abstractions;
using Engine.Core;

namespace Engine.Grains;

/// <summary>
/// When each of a shard's rows must next be looked at by the inactivity sweep. Aging moves a row's scaled vector
/// only up the recency and tenure axes; a segment cannot flip before <see cref="AgingBound"/> lets it, nor before a
/// windowed feature expires (or its recency reaches the RFM cut point that changes its named RFM segment: the customer
/// folds that into the row's next window change). So a sweep looks at the rows that may flip, not at everyone.
/// </summary>
public sealed class InactivitySchedule(ShardMatrix rows, TimeSpan minimumStep)
{
    private static readonly int Recency = FeatureNames.IndexOf(FeatureNames.RecencyDays);
    private static readonly int Tenure = FeatureNames.IndexOf(FeatureNames.TenureDays);

    private readonly PriorityQueue<int, long> _queue = new();
    private long[] _due = [];

    /// <summary>
    /// Recomputes every row's due time under <paramref name="model"/> (after a retrain or on activation). A row that
    /// cannot be scheduled is left unscheduled (its next row schedules it again) rather than failing the shard's every
    /// call; returns how many.
    /// </summary>
    public int Rebuild(ModelSnapshot model)
    {
        _queue.Clear();
        _due = new long[rows.Count];
        var failed = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            failed += TrySchedule(i, model, rows.AsOfAt(i), out _) ? 0 : 1;
        }
        return failed;
    }

    /// <summary>
    /// <see cref="Schedule"/>, except that a row that cannot be scheduled is left unscheduled (its next row schedules it
    /// again) and its error returned, so that one customer's row never fails the shard's call.
    /// </summary>
    public bool TrySchedule(int i, ModelSnapshot model, DateTime from, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out Exception? error)
    {
        try
        {
            Schedule(i, model, from);
            error = null;
            return true;
        }
        catch (Exception ex)
        {
            _due[i] = long.MaxValue;
            error = ex;
            return false;
        }
    }

    /// <summary>
    /// Schedules row i from <paramref name="from"/>; after a look (<paramref name="looked"/>) no sooner than one
    /// minimum step later, so a row the shard's approximation keeps flagging still moves forward in time.
    /// </summary>
    public void Schedule(int i, ModelSnapshot model, DateTime from, bool looked = false)
    {
        if (i >= _due.Length)
        {
            Array.Resize(ref _due, Math.Max(i + 1, _due.Length * 2));
        }
        var due = DueAfter(i, model, from);
        if (looked && due < from + minimumStep)
        {
            due = from + minimumStep;
        }
        Again(i, due);
    }

    /// <summary>Makes row i due at <paramref name="at"/> (again, for a row a sweep took and left as it found it).</summary>
    public void Again(int i, DateTime at)
    {
        _due[i] = at.Ticks;
        _queue.Enqueue(i, at.Ticks);
        CompactIfStale();
    }

    /// <summary>Entries in the queue, superseded ones included (they are skipped when they come up).</summary>
    public int Queued => _queue.Count;

    /// <summary>
    /// Every schedule enqueues, and the entry it supersedes stays until its time comes, which can be weeks away: under
    /// steady ingest that is one entry per event. Once the stale entries outnumber the rows, the queue is rebuilt from
    /// the rows' current due times (amortised O(1) per schedule).
    /// </summary>
    private void CompactIfStale()
    {
        if (_queue.Count <= 2 * rows.Count + CompactionSlack)
        {
            return;
        }
        _queue.Clear();
        _queue.EnqueueRange(Enumerable.Range(0, Math.Min(rows.Count, _due.Length))
            .Where(i => _due[i] != long.MaxValue)
            .Select(i => (i, _due[i])));
    }

    private const int CompactionSlack = 1024;

    /// <summary>
    /// Pops the rows due at or before <paramref name="now"/>; each comes with the time it is due, the moment it may
    /// have crossed a boundary. A row that has not crossed is rescheduled here; one that may have is returned.
    /// </summary>
    public List<(int Row, DateTime At)> TakeDue(ModelSnapshot model, DateTime now)
    {
        var taken = new List<(int, DateTime)>();
        while (_queue.TryPeek(out var i, out var due) && due <= now.Ticks)
        {
            _queue.Dequeue();
            if (i >= _due.Length || _due[i] != due)
            {
                continue; // superseded by a later schedule of the same row
            }
            var at = new DateTime(due, DateTimeKind.Utc);
            if (at >= rows.NextWindowChangeAt(i) || NearestAt(i, model, at) != rows.SegmentAt(i))
            {
                _due[i] = long.MaxValue;
                taken.Add((i, at));
                continue;
            }
            var next = DueAfter(i, model, at);
            _due[i] = Math.Max(next.Ticks, due + minimumStep.Ticks);
            _queue.Enqueue(i, _due[i]);
        }
        return taken;
    }

    private DateTime DueAfter(int i, ModelSnapshot model, DateTime from)
    {
        // Every ingested row is scheduled here, so the vectors live on the stack.
        Span<double> raw = stackalloc double[ShardMatrix.D];
        Aged(i, from, raw);
        Span<float> x = stackalloc float[ShardMatrix.D];
        ModelMath.Scale(model, raw, x);
        var own = Array.IndexOf(model.SegmentIds, rows.SegmentAt(i));
        if (own < 0)
        {
            return from; // not assigned under this model: look now
        }
        var days = AgingBound.SafeDays(x, model.Centroids, model.K, own, raw[Recency], raw[Tenure], model.ScalerMean, model.ScalerStd,
            minimumStep.TotalDays, HorizonDays);
        if (days <= 0)
        {
            return from; // may be nearer another centroid already (or a NaN): look now
        }
        var due = from + TimeSpan.FromDays(days);
        var window = rows.NextWindowChangeAt(i);
        return window < due ? window : due;
    }

    /// <summary>The furthest a row is scheduled ahead: rows nothing will move are looked at once a century.</summary>
    private const double HorizonDays = 36_500;

    private string NearestAt(int i, ModelSnapshot model, DateTime at)
    {
        Span<double> raw = stackalloc double[ShardMatrix.D];
        Aged(i, at, raw);
        return model.SegmentIds[ModelMath.Nearest(model, raw).Index];
    }

    /// <summary>Row i's raw features aged to <paramref name="at"/> (aged in float, as the row stores them), into <paramref name="raw"/>.</summary>
    private void Aged(int i, DateTime at, Span<double> raw)
    {
        Span<float> aged = stackalloc float[ShardMatrix.D];
        rows.RawAt(i).CopyTo(aged);
        ModelMath.Age(aged, rows.AsOfAt(i), at);
        for (var j = 0; j < aged.Length; j++)
        {
            raw[j] = aged[j];
        }
    }
}
