using System.Collections.Concurrent;
using Engine.Abstractions;
using Engine.Core;

namespace Engine.Grains;

/// <summary>
/// The silo-local copy of the current model, so a customer grain assigns a segment on every event without calling a
/// central grain. Refreshed by <see cref="ModelWatcher"/>, and on demand when a caller names a newer version. It also
/// keeps the last models before the current one: a customer assigns each logged batch under the model it was logged
/// with, on a replay too; older ones come from their <see cref="IModelArchiveGrain"/>.
/// </summary>
public sealed class ModelReplica(IGrainFactory grains)
{
    /// <summary>Older models kept in memory: batches logged just before a retrain, and recent replays, need them.</summary>
    public const int Retained = 16;

    private volatile ModelSnapshot? _current;
    private readonly ConcurrentDictionary<long, ModelSnapshot> _older = new();

    public ModelSnapshot? Current => _current;

    /// <summary>Installs <paramref name="model"/> if it is newer than the current one.</summary>
    public void Offer(ModelSnapshot? model)
    {
        while (model is not null)
        {
            var current = _current;
            // Newer version, or the same version renamed (a higher revision).
            if (current is not null && (current.Version, current.Revision).CompareTo((model.Version, model.Revision)) >= 0)
            {
                return;
            }
            // Kept before it stops being current, so a customer looking it up never finds neither.
            if (current is not null && current.Version < model.Version)
            {
                Keep(current);
            }
            if (Interlocked.CompareExchange(ref _current, model, current) == current)
            {
                EngineMetrics.ModelVersion.Set(model.Version);
                return;
            }
        }
    }

    public async Task RefreshAsync() =>
        Offer(await grains.GetGrain<ISegmentCoordinatorGrain>(0).GetModelAsync());

    /// <summary>Makes sure the replica holds at least <paramref name="version"/>.</summary>
    public async ValueTask<ModelSnapshot?> EnsureAsync(long version)
    {
        if (_current is { } m && m.Version >= version)
        {
            return m;
        }
        await RefreshAsync();
        return _current;
    }

    /// <summary>Model <paramref name="version"/> if this silo holds it: the current one or one it kept.</summary>
    public ModelSnapshot? Find(long version) =>
        _current is { } m && m.Version == version ? m : _older.GetValueOrDefault(version);

    /// <summary>Model <paramref name="version"/>, from the coordinator if this silo does not hold it; null if none was published.</summary>
    public async ValueTask<ModelSnapshot?> GetAsync(long version)
    {
        if (Find(version) is { } held)
        {
            return held;
        }
        if (version > (_current?.Version ?? 0))
        {
            await RefreshAsync();
            if (Find(version) is { } current)
            {
                return current;
            }
        }
        // Older than this silo's (or passed by a newer one while it refreshed): the coordinator has it, or its archive.
        if (await grains.GetGrain<ISegmentCoordinatorGrain>(0).GetModelAsync(version) is { } model)
        {
            Keep(model);
        }
        return Find(version);
    }

    /// <summary>Keeps <paramref name="model"/>, and at most <see cref="Retained"/> in all: the oldest others go first.</summary>
    private void Keep(ModelSnapshot model)
    {
        _older[model.Version] = model;
        foreach (var version in _older.Keys.Where(v => v != model.Version).Order().Take(Math.Max(0, _older.Count - Retained)))
        {
            _older.TryRemove(version, out _);
        }
    }
}

/// <summary>Scaled-space helpers shared by every place that assigns a customer to a segment.</summary>
public static class ModelMath
{
    /// <summary>Original units → transformed (log1p) → standardised with the model's scaler.</summary>
    public static float[] Scale(ModelSnapshot model, ReadOnlySpan<double> raw)
    {
        var x = new float[raw.Length];
        Scale(model, raw, x);
        return x;
    }

    /// <summary><see cref="Scale(ModelSnapshot, ReadOnlySpan{double})"/> into stack memory: see <see cref="Scaler.Scale"/>.</summary>
    public static void Scale(ModelSnapshot model, ReadOnlySpan<double> raw, Span<float> x) =>
        Scaler.Scale(raw, model.ScalerMean, model.ScalerStd, x);

    public static Nearest Nearest(ModelSnapshot model, ReadOnlySpan<double> raw)
    {
        Span<float> x = stackalloc float[raw.Length];
        Scale(model, raw, x);
        return KMeansMath.FindNearest(x, model.Centroids, model.K);
    }

    /// <summary>A model's centroids in original feature units, one row per segment.</summary>
    public static double[][] CentroidsInOriginalUnits(ModelSnapshot model) =>
        new Scaler(model.ScalerMean, model.ScalerStd).ToOriginalUnits(model.Centroids, model.K);

    /// <summary>Moves time-dependent raw features (recency, tenure) from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static void Age(Span<float> raw, DateTime from, DateTime to)
    {
        var days = (float)(to - from).TotalDays;
        if (days <= 0)
        {
            return;
        }
        raw[RecencyIndex] += days;
        raw[TenureIndex] += days;
    }

    private static readonly int RecencyIndex = FeatureNames.IndexOf(FeatureNames.RecencyDays);
    private static readonly int TenureIndex = FeatureNames.IndexOf(FeatureNames.TenureDays);
}
