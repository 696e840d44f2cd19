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

    public bool IsEventTime => _eventTime;

    public DateTime Now => _eventTime ? new DateTime(Interlocked.Read(ref _watermarkTicks), DateTimeKind.Utc) : time.GetUtcNow().UtcDateTime;

    /// <summary>The wall clock, whatever the mode (for validating occurred_at).</summary>
    public DateTime WallNow => time.GetUtcNow().UtcDateTime;

    /// <summary>Moves the watermark forward to <paramref name="occurredAt"/> if it is later.</summary>
    public void Observe(DateTime occurredAt)
    {
        var ticks = occurredAt.Ticks;
        var current = Interlocked.Read(ref _watermarkTicks);
        while (ticks > current)
        {
            var seen = Interlocked.CompareExchange(ref _watermarkTicks, ticks, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }
}
