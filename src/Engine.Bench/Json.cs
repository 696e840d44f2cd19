using System.Text.Json;

namespace Engine.Bench;

/// <summary>The one output of a benchmark: an indented JSON object on stdout.</summary>
public static class Json
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void Print<T>(T value) => Console.WriteLine(JsonSerializer.Serialize(value, Indented));
}
