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
    // 0 until this silo applies its first batch (a start has recovered everything up to the watermark).
    private long _appliedTicks;

    public bool IsEventTime => _eventTime;

    public DateTime Now => _eventTime ? new DateTime(Interlocked.Read(ref _watermarkTicks), DateTimeKind.Utc) : time.GetUtcNow().UtcDateTime;

    /// <summary>
    /// "Now" for a change that no event brings (a retrain's reassignment). In event-time mode, the time of the latest
    /// batch this silo has applied, if earlier than the watermark: batches are committed, and move the watermark, a few
    /// ahead of being applied, and at import speed a few batches are weeks of event time. Dated by the watermark, a
    /// customer's reassignment would come weeks before a purchase it has not applied yet and then be followed by that
    /// purchase's move, dated earlier.
    /// </summary>
    public DateTime AppliedNow
    {
        get
        {
            var now = Now;
            return _eventTime && Interlocked.Read(ref _appliedTicks) is var applied && applied > 0 && applied < now.Ticks ? new DateTime(applied, DateTimeKind.Utc) : now;
        }
    }

    /// <summary>Every batch up to <paramref name="asOf"/> is applied on this silo.</summary>
    public void Applied(DateTime asOf) => Advance(ref _appliedTicks, asOf.Ticks);

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
