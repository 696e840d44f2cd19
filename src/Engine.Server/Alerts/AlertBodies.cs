using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Api.V1;
using Google.Protobuf;

namespace Engine.Server.Alerts;

/// <summary>
/// The body of a webhook's POST in its format: <c>engine</c> (the MigrationAlert JSON with proto field names, or a
/// JSON array of them in a batch), <c>slack</c> (<c>{"text": …}</c>, a line per alert naming both segments), or
/// <c>braze_attributes</c> (a Braze <c>/users/track</c> body: per customer its segment and RFM as custom attributes).
/// Segments are named as the transition carries them: their names when it happened.
/// </summary>
public sealed class AlertBodies
{
    public const string Engine = "engine";
    public const string Slack = "slack";
    public const string Braze = "braze_attributes";
    public static readonly string[] Formats = [Engine, Slack, Braze];

    /// <summary>Braze's limit on attribute objects in one /users/track request.</summary>
    public const int BrazeMaxBatch = 75;

    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithPreserveProtoFieldNames(true));

    public string Body(string format, IReadOnlyList<MigrationAlert> alerts, bool batched) => format switch
    {
        Slack => new JsonObject { ["text"] = string.Join("\n", alerts.Select(SlackLine)) }.ToJsonString(),
        Braze => new JsonObject { ["attributes"] = new JsonArray([.. alerts.Select(BrazeAttributes)]) }.ToJsonString(),
        _ => batched ? $"[{string.Join(",", alerts.Select(a => Json.Format(a)))}]" : Json.Format(alerts[0]),
    };

    private static string SlackLine(MigrationAlert a)
    {
        var t = a.Transition;
        var drivers = t.Drivers.Count > 0 ? $", mostly by {t.Drivers[0].Feature}" : "";
        var kind = t.Kind == SegmentKind.Rfm ? "RFM segment " : "";
        return $"Customer {a.CustomerId} moved from {kind}{Named(t.FromSegmentId, t.FromSegmentName)} to {Named(t.ToSegmentId, t.ToSegmentName)} " +
            $"({t.Cause.ToString().ToUpperInvariant()}{drivers})";
    }

    private static JsonNode BrazeAttributes(MigrationAlert a)
    {
        var t = a.Transition;
        var c = a.Customer ?? new Customer();
        // A move of the named RFM segment sets its own attributes, beside (not over) the learned segment's.
        var segment = t.Kind == SegmentKind.Rfm ? "rfm_segment" : "segment";
        return new JsonObject
        {
            ["external_id"] = a.CustomerId,
            [$"engine_{segment}"] = NameOf(t.ToSegmentId, t.ToSegmentName),
            [$"engine_{segment}_id"] = t.ToSegmentId,
            [$"engine_previous_{segment}"] = NameOf(t.FromSegmentId, t.FromSegmentName),
            [t.Kind == SegmentKind.Rfm ? "engine_rfm_moved_at" : "engine_moved_at"] = t.At?.ToDateTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            ["engine_recency_days"] = c.Rfm?.RecencyDays ?? 0,
            ["engine_frequency"] = c.Rfm?.Frequency ?? 0,
            ["engine_monetary"] = c.Rfm?.Monetary ?? 0,
        };
    }

    private static string Named(string segmentId, string name) =>
        NameOf(segmentId, name) is var named && named != segmentId ? $"{named} ({segmentId})" : segmentId;

    /// <summary>The name the transition carries; its id for a transition written before names were (0.2.0).</summary>
    private static string NameOf(string segmentId, string name) => name.Length > 0 ? name : segmentId;
}
