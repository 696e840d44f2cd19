namespace Engine.Abstractions;

/// <summary>Why a customer's segment changed. Values match <c>engine.v1.Cause</c>.</summary>
public enum TransitionCause
{
    Unspecified = 0,
    Event = 1,
    Inactivity = 2,
    Retrain = 3,
}

/// <summary>
/// One change of segment. <see cref="Number"/> counts the customer's transitions from 1; with the customer id it is
/// the transition's identity in the transition log, so a replay that re-derives a transition writes it only once.
/// The names are the segments' names when it happened (null in transitions written before 0.2.0). A change of learned
/// segment and a change of named RFM segment are both transitions, numbered in one sequence; <see cref="Kind"/> tells
/// them apart by the segment moved to. A move by silence carries <see cref="LogPosition"/>, the customer's position in
/// the ingest log when it moved (its events at or below it applied, none after): the customer does not checkpoint for
/// it, and a recovery re-applies it from the transition log between the events it came between.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.TransitionRecord")]
public sealed record TransitionRecord(
    [property: Id(0)] string CustomerId,
    [property: Id(1)] long Number,
    [property: Id(2)] string FromSegmentId,
    [property: Id(3)] string ToSegmentId,
    [property: Id(4)] DateTime At,
    [property: Id(5)] TransitionCause Cause,
    [property: Id(6)] long ModelVersion,
    [property: Id(7)] Driver[]? Drivers = null,
    [property: Id(8)] string? FromSegmentName = null,
    [property: Id(9)] string? ToSegmentName = null,
    [property: Id(10)] long? LogPosition = null)
{
    /// <summary>LEARNED or RFM: the kind of the segment moved to (RFM segment ids are reserved by their prefix).</summary>
    public Engine.Core.SegmentKind Kind => Engine.Core.SegmentKinds.Of(ToSegmentId);
}

/// <summary>A feature that moved a customer: its share of d²(old) − d²(new) in the model's scaled space.</summary>
[GenerateSerializer, Immutable, Alias("engine.Driver")]
public sealed record Driver([property: Id(0)] string Feature, [property: Id(1)] double Contribution);

/// <summary>A transition as stored in the transition log, whose id is the alert cursor.</summary>
[GenerateSerializer, Immutable, Alias("engine.LoggedTransition")]
public sealed record LoggedTransition([property: Id(0)] long Cursor, [property: Id(1)] TransitionRecord Transition);
