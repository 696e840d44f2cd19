using Engine.Abstractions;
using Engine.Core;

namespace Engine.Grains;

/// <summary>
/// The cluster-wide gauges a drift check yields: PSI per feature and customers per segment. Only the cluster leader
/// shows them; a silo that stops being leader clears its own, and a model's segments that are gone are removed.
/// </summary>
public sealed class PopulationGauges
{
    public const string SegmentsFeature = "segments";

    private readonly HashSet<(string Id, string Name)> _segments = [];
    private readonly HashSet<string> _features = [];

    public void Show(DriftReport? report, ModelSnapshot? model)
    {
        if (report is null || model is null)
        {
            Clear();
            return;
        }
        var features = new HashSet<string>();
        for (var j = 0; j < report.FeaturePsi.Length && j < FeatureNames.Count; j++)
        {
            EngineMetrics.DriftPsi.WithLabels(FeatureNames.All[j]).Set(report.FeaturePsi[j]);
            features.Add(FeatureNames.All[j]);
        }
        EngineMetrics.DriftPsi.WithLabels(SegmentsFeature).Set(report.SegmentPsi);
        features.Add(SegmentsFeature);
        EngineMetrics.DriftPsiThreshold.Set(report.Threshold);
        Replace(_features, features, f => EngineMetrics.DriftPsi.RemoveLabelled(f));

        var segments = new HashSet<(string Id, string Name)>();
        var sizes = report.SegmentSizes ?? [];
        for (var c = 0; c < model.SegmentIds.Length && c < sizes.Length; c++)
        {
            var label = (model.SegmentIds[c], model.Names.Length > c ? model.Names[c] : model.SegmentIds[c]);
            EngineMetrics.SegmentCustomers.WithLabels(label.Item1, label.Item2).Set(sizes[c]);
            segments.Add(label);
        }
        Replace(_segments, segments, s => EngineMetrics.SegmentCustomers.RemoveLabelled(s.Id, s.Name));
    }

    public void Clear()
    {
        Replace(_features, [], f => EngineMetrics.DriftPsi.RemoveLabelled(f));
        Replace(_segments, [], s => EngineMetrics.SegmentCustomers.RemoveLabelled(s.Id, s.Name));
    }

    private static void Replace<T>(HashSet<T> shown, HashSet<T> now, Action<T> remove)
    {
        foreach (var gone in shown.Where(s => !now.Contains(s)).ToList())
        {
            remove(gone);
        }
        shown.Clear();
        shown.UnionWith(now);
    }
}
