using Engine.Abstractions;

namespace Engine.Grains;

/// <summary>The coordinator's durable state: the published model and the counter that names new segments.</summary>
[GenerateSerializer, Alias("engine.CoordinatorState")]
public sealed class CoordinatorState
{
    [Id(0)] public ModelSnapshot? Current { get; set; }
    [Id(1)] public int NextSegmentNumber { get; set; } = 1;
}
