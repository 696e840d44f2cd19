using Engine.Core;
using System.Text.Json;
using Engine.Api.V1;
using Engine.Grains;
using Engine.Storage;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Engine.Server.Grpc;

/// <summary>
/// Checks events at the edge. A bad event is rejected with its index and a reason naming the field; the request's
/// valid events are still accepted. A request that is too large as a whole is refused with INVALID_ARGUMENT. The bounds
/// are what keeps one event from doing lasting harm (a sum past double's range, a clock moved to 2100); every rule is
/// listed in docs/input-limits.md.
/// </summary>
public sealed class EventValidator(EngineClock clock, IOptions<IngestOptions> options)
{
    public const int MaxEvents = IngestPipeline.MaxBatchEvents;
    public const int MaxRequestBytes = 16 * 1024 * 1024;
    public const int MaxIdLength = 256;
    public const int MaxCategoryLength = 256;
    public const int MaxAttributes = 64;
    public const int MaxAttributeKeyLength = 128;
    public const int MaxAttributeValueLength = 1024;
    private static readonly TimeSpan MaxFutureSkew = TimeSpan.FromDays(1);

    private readonly IngestOptions _options = options.Value;
    private readonly DateTime _minEventTime = options.Value.MinEventTime.ToUniversalTime() < DateTime.UnixEpoch
        ? DateTime.UnixEpoch
        : DateTime.SpecifyKind(options.Value.MinEventTime.ToUniversalTime(), DateTimeKind.Utc);

    public (List<PendingEvent> Valid, List<Rejection> Rejected) Validate(IngestRequest request)
    {
        if (request.Events.Count > MaxEvents)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"events: at most {MaxEvents} events per request, got {request.Events.Count}; nothing was applied"));
        }
        var size = request.CalculateSize();
        if (size > MaxRequestBytes)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"events: request is {size} bytes, the limit is {MaxRequestBytes}; nothing was applied"));
        }
        var valid = new List<PendingEvent>(request.Events.Count);
        var rejected = new List<Rejection>();
        var bounds = new TimeBounds(_minEventTime, clock.WallNow + MaxFutureSkew,
            clock.IsEventTime && clock.Watermark is { } watermark ? watermark + _options.MaxWatermarkJump : null);
        for (var i = 0; i < request.Events.Count; i++)
        {
            var e = request.Events[i];
            var reason = Check(e, bounds, out var at);
            if (reason is not null)
            {
                rejected.Add(new Rejection { Index = i, EventId = e.EventId, Reason = reason });
                EngineMetrics.Reject(reason);
                continue;
            }
            valid.Add(new PendingEvent(e.EventId, e.CustomerId, (EventKind)e.Type, at, e.Amount,
                string.IsNullOrEmpty(e.Category) ? null : e.Category,
                e.Attributes.Count == 0 ? null : JsonSerializer.Serialize(e.Attributes)));
        }
        return (valid, rejected);
    }

    /// <summary>The times an event may have: not before the earliest, not after the wall clock's limit nor the watermark's.</summary>
    private readonly record struct TimeBounds(DateTime Earliest, DateTime WallLimit, DateTime? WatermarkLimit);

    /// <summary>The reason <paramref name="e"/> is rejected, or null; <paramref name="at"/> is its time once that is valid.</summary>
    private string? Check(Event e, TimeBounds bounds, out DateTime at)
    {
        at = default;
        if (IdProblem(e.EventId) is { } eventId)
        {
            return $"event_id: {eventId}";
        }
        if (IdProblem(e.CustomerId) is { } customerId)
        {
            return $"customer_id: {customerId}";
        }
        if (e.Type == EventType.Unspecified || !Enum.IsDefined(e.Type))
        {
            return $"type: must be a known EventType other than EVENT_TYPE_UNSPECIFIED, got {(int)e.Type}";
        }
        if (e.OccurredAt is null)
        {
            return "occurred_at: required";
        }
        if (e.OccurredAt.Nanos is < 0 or > 999_999_999 || e.OccurredAt.Seconds is < -62135596800 or > 253402300799)
        {
            return "occurred_at: not a valid timestamp";
        }
        if (!double.IsFinite(e.Amount) || e.Amount < 0)
        {
            return $"amount: must be finite and >= 0 (a REFUND carries the positive refunded value), got {e.Amount}";
        }
        if (e.Amount > _options.MaxAmount)
        {
            return $"amount: at most Engine:MaxAmount = {_options.MaxAmount:R}, got {e.Amount:R}";
        }
        at = e.OccurredAt.ToDateTime();
        if (at < bounds.Earliest)
        {
            return $"occurred_at: {at:O} is before the earliest accepted time {bounds.Earliest:O} (Engine:MinEventTime, never before 1970)";
        }
        if (at > bounds.WallLimit)
        {
            return $"occurred_at: {at:O} is more than one day ahead of the wall clock";
        }
        if (bounds.WatermarkLimit is { } limit && at > limit)
        {
            return $"occurred_at: {at:O} is more than Engine:MaxWatermarkJump ({_options.MaxWatermarkJump.TotalDays:0.##} days) ahead of the event-time watermark {limit - _options.MaxWatermarkJump:O}";
        }
        if (e.Category.Length > MaxCategoryLength)
        {
            return $"category: at most {MaxCategoryLength} characters, got {e.Category.Length}";
        }
        if (HasControl(e.Category))
        {
            return "category: must not contain control characters";
        }
        if (e.Attributes.Count > MaxAttributes)
        {
            return $"attributes: at most {MaxAttributes} entries, got {e.Attributes.Count}";
        }
        foreach (var (key, value) in e.Attributes)
        {
            if (key.Length is 0 or > MaxAttributeKeyLength)
            {
                return $"attributes: a key must be 1-{MaxAttributeKeyLength} characters, got {key.Length}";
            }
            if (value.Length > MaxAttributeValueLength)
            {
                return $"attributes[{key}]: at most {MaxAttributeValueLength} characters, got {value.Length}";
            }
        }
        return null;
    }

    private static string? IdProblem(string id) =>
        id.Length is 0 or > MaxIdLength ? $"must be 1-{MaxIdLength} characters, got {id.Length}"
        : HasControl(id) ? "must not contain control characters"
        : null;

    private static bool HasControl(string s)
    {
        foreach (var c in s)
        {
            if (char.IsControl(c))
            {
                return true;
            }
        }
        return false;
    }
}
