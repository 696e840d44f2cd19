using Engine.Abstractions;

namespace Engine.Grains;

/// <summary>
/// A customer's checkpoint. <see cref="Profile"/> is the compact binary of <c>Engine.Core.CustomerProfile</c>;
/// <see cref="LogPosition"/> is the ingest-log position it covers, so activation replays only the tail after it.
/// </summary>
[GenerateSerializer, Alias("engine.CustomerState")]
public sealed class CustomerState
{
    [Id(0)] public byte[]? Profile { get; set; }
    [Id(1)] public long LogPosition { get; set; }
    [Id(2)] public string SegmentId { get; set; } = ModelSnapshot.Unassigned;
    [Id(3)] public long ModelVersion { get; set; }
    [Id(4)] public List<TransitionRecord> History { get; set; } = [];
    [Id(5)] public long TransitionCount { get; set; }

    /// <summary>The engine clock of the latest assignment; an inactivity sweep never dates a change before it.</summary>
    [Id(6)] public DateTime AssignedAt { get; set; }

    /// <summary>
    /// Log positions of this customer's events in the quarantine, passed over until an operator replays them (null
    /// when none: most customers never have one). A replay applies an event only while it is listed here, so it applies once.
    /// </summary>
    [Id(7)] public List<long>? Quarantined { get; set; }

    /// <summary>
    /// The named RFM segment the customer's last RFM move went to (null before its first: no model yet, or no purchase),
    /// so that the next assignment knows whether the RFM segment moved.
    /// </summary>
    [Id(8)] public string? RfmSegmentId { get; set; }
}
