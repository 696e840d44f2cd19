using Engine.Api.V1;
using Engine.Core;
using Engine.Grains;
using Engine.Server.Grpc;
using Engine.Storage;
using Google.Protobuf;

namespace Engine.Server.Alerts;

/// <summary>
/// Keeps webhook filters meaning what their owners meant: a rename rewrites the old name to the new one (a name
/// filter moves with its segment), and <see cref="Unmatched"/> tells which filter segments the current model no
/// longer has.
/// </summary>
public sealed class WebhookFilters(IWebhookStore store, ModelReplica models)
{
    public async Task RenameInFiltersAsync(string before, string after, CancellationToken ct)
    {
        foreach (var webhook in await store.ListWebhooksAsync(ct))
        {
            var filter = AlertFilter.Parser.ParseJson(webhook.FilterJson);
            var kinds = SegmentKinds.Requested(filter.Kinds.Select(Mapping.ToKind));
            if (!kinds.Contains(Engine.Core.SegmentKind.Learned))
            {
                continue; // a learned segment's name means nothing to a filter of RFM moves only
            }
            // A name that is also an RFM segment's, in a filter of both kinds, still means that RFM segment too: kept beside the new name.
            var keep = kinds.Contains(Engine.Core.SegmentKind.Rfm) && IsRfmSegment(before);
            if (Rename(filter.FromSegmentIds, before, after, keep) | Rename(filter.ToSegmentIds, before, after, keep))
            {
                await store.UpdateWebhookFilterAsync(webhook.Id, JsonFormatter.Default.Format(filter), ct);
            }
        }
    }

    /// <summary>
    /// The filter's segments that are neither an id nor a name (any case) of the current model or of a named RFM segment
    /// (as the filter's kinds ask), nor unassigned.
    /// </summary>
    public IEnumerable<string> Unmatched(AlertFilter filter)
    {
        var model = models.Current;
        var kinds = SegmentKinds.Requested(filter.Kinds.Select(Mapping.ToKind));
        return filter.FromSegmentIds.Concat(filter.ToSegmentIds).Where(s =>
            Unassigned.Normalize(s) != Unassigned.SegmentId
            && !(kinds.Contains(Engine.Core.SegmentKind.Learned)
                && (model?.SegmentIds.Contains(s) == true || model?.Names.Contains(s, StringComparer.OrdinalIgnoreCase) == true))
            && !(kinds.Contains(Engine.Core.SegmentKind.Rfm)
                && IsRfmSegment(s))).Distinct();
    }

    private static bool IsRfmSegment(string segment) =>
        RfmScores.Segments.Any(r => r.Id == segment || string.Equals(r.Name, segment, StringComparison.OrdinalIgnoreCase));

    private static bool Rename(Google.Protobuf.Collections.RepeatedField<string> segments, string before, string after, bool keepBefore)
    {
        if (!segments.Any(s => string.Equals(s, before, StringComparison.OrdinalIgnoreCase)))
        {
            return false;
        }
        if (!keepBefore)
        {
            for (var i = segments.Count - 1; i >= 0; i--)
            {
                if (string.Equals(segments[i], before, StringComparison.OrdinalIgnoreCase))
                {
                    segments.RemoveAt(i);
                }
            }
        }
        if (!segments.Contains(after, StringComparer.OrdinalIgnoreCase))
        {
            segments.Add(after);
        }
        return true;
    }
}
