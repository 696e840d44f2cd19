using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>
/// The engine's "now". Wall-clock mode: UTC now. Event-time mode: the watermark, the latest occurred_at seen, so a
/// replay of a 1997 log computes 1997-relative recency and windows. Silo-local; the watermark starts from the log.
/// </summary>
public sealed class EngineClock(IOptions<EngineOptions> options, TimeProvider time)
{
    private readonly bool _eventTime = options.Value.IsEventTime;
    private long _watermarkTicks = DateTime.UnixEpoch.Ticks;
    // 0 until this silo applies its first batch or recovers a store with events.
    private long _appliedTicks;
    // The earliest time through which another live silo has applied its batches; MaxValue while none is known.
    private long _peersAppliedTicks = long.MaxValue;
    private Func<bool> _inFlight = static () => false;

    public bool IsEventTime => _eventTime;

    public DateTime Now => _eventTime ? new DateTime(Interlocked.Read(ref _watermarkTicks), DateTimeKind.Utc) : time.GetUtcNow().UtcDateTime;

    /// <summary>
    /// "Now" for a change that no event brings (a retrain's reassignment). In event-time mode, the time of the latest
    /// batch this silo has applied, if earlier than the watermark: batches are committed, and move the watermark, a few
    /// ahead of being applied, and at import speed a few batches are weeks of event time. Dated by the watermark, a
    /// customer's reassignment would come weeks before a purchase it has not applied yet and then be followed by that
    /// purchase's move, dated earlier. In a cluster, also no later than any other silo has applied its batches
    /// (<see cref="PeersApplied"/>): a customer whose grain lives here may have a batch of another silo on its way.
    /// </summary>
    public DateTime AppliedNow
    {
        get
        {
            var now = Now;
            return _eventTime ? new DateTime(Math.Min(OwnApplied(now).Ticks, Interlocked.Read(ref _peersAppliedTicks)), DateTimeKind.Utc) : now;
        }
    }

    /// <summary>Every batch up to <paramref name="asOf"/> is applied on this silo.</summary>
    public void Applied(DateTime asOf) => Advance(ref _appliedTicks, asOf.Ticks);

    /// <summary>Tells the clock how to see whether this silo has a batch committed but not yet applied (the ingest pipeline).</summary>
    public void TrackInFlight(Func<bool> inFlight) => _inFlight = inFlight;

    /// <summary>
    /// The time through which this silo has applied its batches, as its peers are told it: <paramref name="now"/> (read
    /// before looking for batches in flight) when none is, since a batch committed later is dated at least that; else
    /// the latest batch applied, or the epoch if none has been since an empty start.
    /// </summary>
    public DateTime OwnApplied(DateTime now) =>
        !_inFlight() ? now
        : Interlocked.Read(ref _appliedTicks) is var applied && applied > 0 ? new DateTime(Math.Min(applied, now.Ticks), DateTimeKind.Utc)
        : DateTime.UnixEpoch;

    /// <summary>The earliest time through which the other live silos have applied their batches; null when there are none.</summary>
    public void PeersApplied(DateTime? earliest) => Interlocked.Exchange(ref _peersAppliedTicks, earliest?.Ticks ?? long.MaxValue);

    /// <summary>The latest occurred_at this silo has seen or recovered; null while the store has no events.</summary>
    public DateTime? Watermark => Interlocked.Read(ref _watermarkTicks) is var t && t > DateTime.UnixEpoch.Ticks ? new DateTime(t, DateTimeKind.Utc) : null;

    /// <summary>The wall clock, whatever the mode (for validating occurred_at).</summary>
    public DateTime WallNow => time.GetUtcNow().UtcDateTime;

    /// <summary>Moves the watermark forward to <paramref name="occurredAt"/> if it is later.</summary>
    public void Observe(DateTime occurredAt) => Advance(ref _watermarkTicks, occurredAt.Ticks);

    /// <summary>Moves <paramref name="location"/> forward to <paramref name="ticks"/> if that is later (lock-free).</summary>
    private static void Advance(ref long location, long ticks)
    {
        var current = Interlocked.Read(ref location);
        while (ticks > current)
        {
            var seen = Interlocked.CompareExchange(ref location, ticks, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }
}
