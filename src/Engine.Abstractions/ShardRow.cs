namespace Engine.Abstractions;

/// <summary>
/// What a shard keeps of one customer: its raw features (original units) as of <see cref="AsOf"/> and its segment.
/// Shards hold these as a dense matrix so retraining never calls customer grains per iteration.
/// <see cref="NextWindowChange"/> is when a windowed feature next changes by time alone (for the inactivity sweep).
/// <see cref="LogPosition"/> and <see cref="AsOf"/> order one customer's rows: both only grow (a segment change never
/// keeps the time of the row before it), so a shard can drop a row that arrives after a newer one (two silos may
/// publish the same customer's rows concurrently). A replay re-derives equal keys, so ties are accepted.
/// <see cref="ModelVersion"/> is the model the segment is under: a row under a rollout's model tells the shard the
/// rollout need not ask that customer. The matrix does not keep it. <see cref="LastPurchaseAt"/> gives RFM recency at
/// any instant exactly (null: no purchase), where aging the float recency would drift from the customer's own value.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.ShardRow")]
public sealed record ShardRow(
    [property: Id(0)] string CustomerId,
    [property: Id(1)] float[] Raw,
    [property: Id(2)] DateTime AsOf,
    [property: Id(3)] string SegmentId,
    [property: Id(4)] DateTime? NextWindowChange = null,
    [property: Id(5)] long LogPosition = 0,
    [property: Id(6)] long ModelVersion = 0,
    [property: Id(7)] DateTime? LastPurchaseAt = null,
    [property: Id(9)] int FirstPurchaseDay = -1,
    [property: Id(10)] int LastPurchaseDay = -1,
    [property: Id(11)] int PurchaseDays = 0,
    [property: Id(12)] double RepeatAmount = 0);

/// <summary>
/// The outcome of applying work to a customer: its new shard row and the transitions it recorded for the caller to log.
/// <see cref="Moved"/>: learned moves the customer wrote to the transition log itself (a sweep's), not in <see cref="Transitions"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.ApplyResult")]
public sealed record ApplyResult(
    [property: Id(0)] ShardRow? Row,
    [property: Id(1)] TransitionRecord[] Transitions,
    [property: Id(2)] int Applied,
    [property: Id(3)] int Moved = 0)
{
    public static readonly ApplyResult Empty = new(null, [], 0);
}

/// <summary>
/// A rollout's view of its shard: the customers it has yet to reach (-1 if the shard no longer tracks that rollout),
/// how many of its customers have been reached so far (a row under its model arrived), and the rows the shard has
/// taken since it activated, whose growth says whether ingest is running.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.RolloutReach")]
public readonly record struct RolloutReach([property: Id(0)] int StillToReach, [property: Id(1)] int Reached, [property: Id(2)] long RowsTaken);
