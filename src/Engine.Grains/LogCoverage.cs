namespace Engine.Grains;

/// <summary>
/// What this silo can promise a customer grain about the ingest log when it delivers a batch. Appends from all silos
/// are serialized, so each of this silo's appends knows the stretch other silos wrote since its previous one (a
/// foreign interval). With no foreign interval in the window, every event after <c>CompleteAfter</c> is this silo's,
/// and it delivered them in order. Otherwise the silo reads its batch customers' events in
/// (<c>CompleteAfter</c>, the append's start] and delivers them with the batch. Either way a grain that has applied
/// everything up to <c>CompleteAfter</c> can apply the delivery as is; one that has not reads its own tail first.
/// Intervals older than the window are dropped, which moves <c>CompleteAfter</c> past them: a customer not seen
/// since then reads its tail once instead of every batch dragging old intervals along.
/// </summary>
public sealed class LogCoverage(TimeSpan window)
{
    private readonly Queue<(long After, long Through, long At)> _foreign = new();
    private long _ownEnd;
    private long _completeAfter;

    /// <summary>Starts after crash recovery, which brought every customer with events up to <paramref name="head"/> up to date.</summary>
    public void Start(long head) => (_ownEnd, _completeAfter) = (head, head);

    /// <summary>
    /// Records an append that took positions (<paramref name="before"/>, <paramref name="end"/>] at <paramref name="at"/>
    /// (a Stopwatch timestamp). Returns where the delivery's promise starts and whether the silo must read the
    /// customers' events in (that position, <paramref name="before"/>] to keep it.
    /// </summary>
    public (long CompleteAfter, bool ReadBack) Appended(long before, long end, long at)
    {
        if (before > _ownEnd)
        {
            _foreign.Enqueue((_ownEnd, before, at));
        }
        _ownEnd = Math.Max(_ownEnd, Math.Max(before, end));
        var oldest = at - (long)(window.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        while (_foreign.Count > 0 && _foreign.Peek().At < oldest)
        {
            _completeAfter = Math.Max(_completeAfter, _foreign.Dequeue().Through);
        }
        return _foreign.Count > 0 ? (_foreign.Peek().After, true) : (_completeAfter, false);
    }
}
