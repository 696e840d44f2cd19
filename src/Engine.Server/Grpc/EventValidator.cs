using System.Text.Json;
using Engine.Api.V1;
using Engine.Grains;
using Engine.Storage;
using Grpc.Core;

namespace Engine.Server.Grpc;

/// <summary>
/// Checks events at the edge. A bad event is rejected with its index and a reason naming the field; the request's
/// valid events are still accepted. A request that is too large as a whole is refused with INVALID_ARGUMENT.
/// </summary>
public sealed class EventValidator(EngineClock clock)
{
    public const int MaxEvents = IngestPipeline.MaxBatchEvents;
    public const int MaxRequestBytes = 16 * 1024 * 1024;
    public const int MaxIdLength = 256;
    private static readonly TimeSpan MaxFutureSkew = TimeSpan.FromDays(1);

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
        var latest = clock.WallNow + MaxFutureSkew;
        for (var i = 0; i < request.Events.Count; i++)
        {
            var e = request.Events[i];
            var reason = Check(e, latest);
            if (reason is not null)
            {
                rejected.Add(new Rejection { Index = i, EventId = e.EventId, Reason = reason });
                continue;
            }
            valid.Add(new PendingEvent(e.EventId, e.CustomerId, (int)e.Type, e.OccurredAt.ToDateTime(), e.Amount,
                string.IsNullOrEmpty(e.Category) ? null : e.Category,
                e.Attributes.Count == 0 ? null : JsonSerializer.Serialize(e.Attributes)));
        }
        EngineMetrics.EventsRejected.Inc(rejected.Count);
        return (valid, rejected);
    }

    private string? Check(Event e, DateTime latest)
    {
        if (e.EventId.Length is 0 or > MaxIdLength)
        {
            return $"event_id: must be 1-{MaxIdLength} characters, got {e.EventId.Length}";
        }
        if (e.CustomerId.Length is 0 or > MaxIdLength)
        {
            return $"customer_id: must be 1-{MaxIdLength} characters, got {e.CustomerId.Length}";
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
        if (!clock.IsEventTime && e.OccurredAt.ToDateTime() > latest)
        {
            return $"occurred_at: {e.OccurredAt.ToDateTime():O} is more than one day ahead of the wall clock";
        }
        return null;
    }
}
