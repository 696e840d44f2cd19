using Engine.Api.V1;
using Engine.Core;
using Engine.Grains;
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
            if (Rename(filter.FromSegmentIds, before, after) | Rename(filter.ToSegmentIds, before, after))
            {
                await store.UpdateWebhookFilterAsync(webhook.Id, JsonFormatter.Default.Format(filter), ct);
            }
        }
    }

    /// <summary>The filter's segments that are neither an id nor a name (any case) of the current model, nor unassigned.</summary>
    public IEnumerable<string> Unmatched(AlertFilter filter)
    {
        var model = models.Current;
        return filter.FromSegmentIds.Concat(filter.ToSegmentIds).Where(s =>
            Unassigned.Normalize(s) != Unassigned.SegmentId
            && model?.SegmentIds.Contains(s) != true
            && model?.Names.Contains(s, StringComparer.OrdinalIgnoreCase) != true).Distinct();
    }

    private static bool Rename(Google.Protobuf.Collections.RepeatedField<string> segments, string before, string after)
    {
        var renamed = false;
        for (var i = 0; i < segments.Count; i++)
        {
            if (string.Equals(segments[i], before, StringComparison.OrdinalIgnoreCase))
            {
                (segments[i], renamed) = (after, true);
            }
        }
        return renamed;
    }
}
