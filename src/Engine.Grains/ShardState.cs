namespace Engine.Grains;

/// <summary>
/// A shard's checkpoint: its rows as one compact binary blob (see <see cref="ShardMatrix"/>) and the ingest-log
/// position they reflect. A blob keeps a million-row checkpoint to a few bytes of overhead per row.
/// </summary>
[GenerateSerializer, Alias("engine.ShardState")]
public sealed class ShardState
{
    [Id(0)] public byte[]? Rows { get; set; }
    [Id(1)] public long LogPosition { get; set; }

    /// <summary>
    /// True while an activation holds the shard; a graceful deactivation writes false. Finding it true on activation
    /// means the last holder died, and with it every row it took after <see cref="LogPosition"/>.
    /// </summary>
    [Id(2)] public bool Open { get; set; }
}
