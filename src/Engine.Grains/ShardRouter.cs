using System.IO.Hashing;
using System.Text;
using Engine.Abstractions;
using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>
/// Maps a customer to its shard with a stable hash (the same on every silo and every run), and reaches every shard at
/// once: the one place that fans a call out to all of them.
/// </summary>
public sealed class ShardRouter(IOptions<EngineOptions> options, IGrainFactory grains)
{
    public int Shards { get; } = Math.Max(1, options.Value.Shards);

    /// <summary>Every shard's grain, in shard order.</summary>
    public IShardGrain[] All() => Enumerable.Range(0, Shards).Select(i => grains.GetGrain<IShardGrain>(i)).ToArray();

    /// <summary>Asks every shard at once; the answers come in shard order.</summary>
    public Task<T[]> AskAllAsync<T>(Func<IShardGrain, Task<T>> ask) => Task.WhenAll(All().Select(ask));

    /// <summary>Tells every shard at once; completes when all have done it.</summary>
    public Task TellAllAsync(Func<IShardGrain, Task> tell) => Task.WhenAll(All().Select(tell));

    public int ShardOf(string customerId)
    {
        Span<byte> buffer = stackalloc byte[Encoding.UTF8.GetMaxByteCount(Math.Min(customerId.Length, 256))];
        var n = Encoding.UTF8.GetBytes(customerId.AsSpan(0, Math.Min(customerId.Length, 256)), buffer);
        return (int)(XxHash32.HashToUInt32(buffer[..n]) % (uint)Shards);
    }
}
