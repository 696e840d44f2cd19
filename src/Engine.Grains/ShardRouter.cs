using System.IO.Hashing;
using System.Text;
using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>Maps a customer to its shard with a stable hash (the same on every silo and every run).</summary>
public sealed class ShardRouter(IOptions<EngineOptions> options)
{
    public int Shards { get; } = Math.Max(1, options.Value.Shards);

    public int ShardOf(string customerId)
    {
        Span<byte> buffer = stackalloc byte[Encoding.UTF8.GetMaxByteCount(Math.Min(customerId.Length, 256))];
        var n = Encoding.UTF8.GetBytes(customerId.AsSpan(0, Math.Min(customerId.Length, 256)), buffer);
        return (int)(XxHash32.HashToUInt32(buffer[..n]) % (uint)Shards);
    }
}
