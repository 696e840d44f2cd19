using Engine.Abstractions;
using Engine.Core;
using Engine.Storage;

namespace Engine.Grains;

/// <summary>A transition matrix over segments, with its row-normalised probabilities and first assignments.</summary>
public sealed record TransitionMatrix(string[] SegmentIds, long[] Counts, double[] Probabilities, long[] Entries);

/// <summary>A Markov projection of the current model's segment sizes.</summary>
public sealed record SegmentForecast(string[] SegmentIds, long[] ObservedSizes, double[] Matrix, double[][] Steps);

/// <summary>
/// Questions about the whole population, answered from the shards and the transition log: segment profiles, transition
/// matrices, forecasts. The API services validate the request and map the answer; the work is here.
/// </summary>
public sealed class PopulationQueries(ShardRouter router, ModelReplica models, ITransitionLog log)
{
    /// <summary>Per segment: customers and the sums of their features (original units, aged to now), over every shard.</summary>
    public async Task<Dictionary<string, SegmentProfile>> ProfilesAsync()
    {
        var parts = await router.AskAllAsync(s => s.GetProfilesAsync());
        var merged = new Dictionary<string, SegmentProfile>(StringComparer.Ordinal);
        foreach (var (id, p) in parts.SelectMany(x => x))
        {
            merged[id] = merged.TryGetValue(id, out var m) ? m.Plus(p) : p;
        }
        return merged;
    }

    /// <summary>Customers per named RFM segment under the current model's cut points, over every shard; null before a model.</summary>
    public async Task<(ModelSnapshot Model, RfmTally Tally)?> RfmTallyAsync()
    {
        if (models.Current is not { } model)
        {
            return null;
        }
        var cuts = model.Rfm ?? new RfmCutPoints([], [], [], 0);
        var parts = await router.AskAllAsync(s => s.GetRfmTallyAsync(cuts));
        var n = RfmScores.Segments.Length;
        var tally = RfmTally.Empty(n);
        foreach (var p in parts)
        {
            for (var i = 0; i < n; i++)
            {
                tally.Customers[i] += p.Customers[i];
                tally.Monetary[i] += p.Monetary[i];
                // A silo of the release before answers without value sums (a rolling upgrade): zeros.
                tally.PAliveSums[i] += p.PAliveSums?[i] ?? 0;
                tally.ClvSums[i] += p.ClvSums?[i] ?? 0;
            }
            tally = tally with { WithoutPurchase = tally.WithoutPurchase + p.WithoutPurchase };
        }
        return (model, tally);
    }

    /// <summary>
    /// Moves of one kind with <c>at</c> in [from, to), optionally of one model version and some causes: between the
    /// learned segments (the current model's first), or between the named RFM segments (all ten, most valuable first).
    /// </summary>
    public async Task<TransitionMatrix> TransitionMatrixAsync(DateTime? from, DateTime? to, long? modelVersion,
        IReadOnlyCollection<TransitionCause> causes, SegmentKind kind, CancellationToken ct)
    {
        var counts = await log.CountTransitionsAsync(from, to, modelVersion, causes, ct);
        var labels = kind == SegmentKind.Rfm ? RfmScores.Segments.Select(s => s.Id).ToArray() : models.Current?.SegmentIds ?? [];
        var (ids, matrix, entries) = TransitionMath.Matrix(
            counts.Where(c => SegmentKinds.Of(c.To) == kind).Select(c => (c.From, c.To, c.Count)), labels);
        return new TransitionMatrix(ids, matrix, TransitionMath.RowNormalize(matrix, ids.Length), entries);
    }

    /// <summary>
    /// Sizes <paramref name="periods"/> periods ahead, with the per-period matrix estimated on the moves in [from, to);
    /// null before the first model.
    /// </summary>
    public async Task<SegmentForecast?> ForecastAsync(TimeSpan period, int periods, DateTime from, DateTime to, CancellationToken ct)
    {
        if (models.Current is not { } model)
        {
            return null;
        }
        var ids = model.SegmentIds;
        var counts = await log.CountTransitionsAsync(from, to, ct: ct);
        var moves = TransitionMath.MovesBetween(counts.Select(c => (c.From, c.To, c.Count)), ids);
        var profiles = await ProfilesAsync();
        var sizes = ids.Select(id => (double)(profiles.TryGetValue(id, out var p) ? p.Count : 0)).ToArray();
        var windowPeriods = (int)Math.Max(1, Math.Round((to - from) / period));
        var matrix = MarkovForecast.PerPeriodMatrix(moves, sizes, ids.Length, windowPeriods);
        return new SegmentForecast(ids, sizes.Select(s => (long)s).ToArray(), matrix, MarkovForecast.Project(sizes, matrix, ids.Length, periods));
    }
}
