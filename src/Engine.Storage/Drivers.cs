using System.Text.Json;
using Engine.Abstractions;

namespace Engine.Storage;

/// <summary>The compact JSON a transition's drivers are stored as: [{"f": feature, "c": contribution}].</summary>
public static class Drivers
{
    private sealed record Item(string f, double c);

    public static string? ToJson(Driver[]? drivers) =>
        drivers is null || drivers.Length == 0 ? null : JsonSerializer.Serialize(drivers.Select(d => new Item(d.Feature, d.Contribution)));

    public static Driver[]? FromJson(string? json) =>
        json is null ? null : JsonSerializer.Deserialize<Item[]>(json)?.Select(i => new Driver(i.f, i.c)).ToArray();
}
