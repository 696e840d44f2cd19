using Engine.Abstractions;
using Engine.Storage;

namespace Engine.Grains;

/// <summary>
/// Makes customers' outcomes visible to the population: transitions go to the transition log first, then rows go to
/// their shards in one call per shard. That order matters for recovery: a shard checkpoint never covers a transition
/// that is not yet durable.
/// </summary>
public sealed class OutcomePublisher(TransitionLogWriter writes, ShardRouter router, IGrainFactory grains)
{
    public async Task PublishAsync(IReadOnlyCollection<ApplyResult> results)
    {
        var transitions = new List<TransitionRecord>();
        var perShard = new Dictionary<int, List<ShardRow>>();
        foreach (var r in results)
        {
            transitions.AddRange(r.Transitions);
            if (r.Row is { } row)
            {
                var shard = router.ShardOf(row.CustomerId);
                if (!perShard.TryGetValue(shard, out var rows))
                {
                    perShard[shard] = rows = [];
                }
                rows.Add(row);
            }
        }
        await writes.AppendTransitionsAsync(transitions);
        await Task.WhenAll(perShard.Select(p => grains.GetGrain<IShardGrain>(p.Key).UpsertAsync(p.Value.ToArray())));
    }
}
