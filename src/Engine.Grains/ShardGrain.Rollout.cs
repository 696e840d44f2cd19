using System.Diagnostics;
using Engine.Abstractions;
using Engine.Core;

namespace Engine.Grains;

// A model rollout's view of the shard (IShardRollout); the rules are RolloutTracker's.
public sealed partial class ShardGrain
{
    public async Task<string[]> GetCandidatesAsync(ModelSnapshot model)
    {
        // The cut points customers' RFM segments stand on now: the model before this one (the coordinator has published
        // this one already). Without them, or without new ones, only learned moves make candidates; RFM moves then
        // come with each customer's next event or sweep.
        var previousCuts = model.Rfm is { IsEmpty: false } ? models.Find(model.Version - 1)?.Rfm : null;
        // This silo may not have the model yet; rows the rollout brings are scheduled under it.
        models.Offer(model);
        var (rows, asOf) = (_rows, clock.Now);
        var candidates = await Task.Run(() =>
        {
            var list = new List<string>();
            ForEachAged(rows, asOf, (i, raw) =>
            {
                // A customer the model moves, or whose named RFM segment the model's new cut points move.
                if (model.SegmentIds[ModelMath.Nearest(model, raw).Index] != rows.SegmentAt(i)
                    || (previousCuts is not null && rows.RfmAt(i, asOf) is { } rfm && RfmRules.SegmentOf(model.Rfm, rfm) != RfmRules.SegmentOf(previousCuts, rfm)))
                {
                    list.Add(rows.IdAt(i));
                }
            });
            return list.ToArray();
        });
        _rollout.Start(model.Version, candidates, Stopwatch.GetTimestamp());
        return candidates;
    }

    public Task<string[]> TakeLateToRolloutAsync(long modelVersion)
    {
        _rollout.Called(modelVersion, Stopwatch.GetTimestamp());
        return Task.FromResult(_rollout.TakeLate(modelVersion));
    }

    public Task<string[]> StillToReachAsync(string[] customers, long modelVersion)
    {
        _rollout.Called(modelVersion, Stopwatch.GetTimestamp());
        // Without this rollout's set (the shard reactivated meanwhile, or the set was dropped as stalled) all of them.
        return Task.FromResult(_rollout.StillToReach(customers, modelVersion));
    }

    public Task<RolloutReach> GetRolloutReachAsync(long modelVersion)
    {
        _rollout.Called(modelVersion, Stopwatch.GetTimestamp());
        return Task.FromResult(_rollout.StillToReachCount(modelVersion) is var still and >= 0
            ? new RolloutReach(still, _rollout.Reached, _rowsTaken)
            : new RolloutReach(-1, 0, _rowsTaken));
    }

    public Task EndRolloutAsync(long modelVersion)
    {
        _rollout.End(modelVersion);
        return Task.CompletedTask;
    }
}
