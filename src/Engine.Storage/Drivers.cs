using System.Buffers;
using System.Text;
using System.Text.Json;
using Engine.Abstractions;

namespace Engine.Storage;

/// <summary>The compact JSON a transition's drivers are stored as: [{"f": feature, "c": contribution}].</summary>
public static class Drivers
{
    private sealed record Item(string f, double c);

    // Every move's row carries its drivers, so the writer and its buffer are kept per thread (the serializer allocated
    // its state on each call); the text is what JsonSerializer writes for the same items.
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    public static string? ToJson(Driver[]? drivers)
    {
        if (drivers is null || drivers.Length == 0)
        {
            return null;
        }
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(256);
        buffer.ResetWrittenCount();
        var w = t_writer ??= new Utf8JsonWriter(buffer);
        w.Reset(buffer);
        w.WriteStartArray();
        foreach (var d in drivers)
        {
            w.WriteStartObject();
            w.WriteString("f", d.Feature);
            w.WriteNumber("c", d.Contribution);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.Flush();
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static Driver[]? FromJson(string? json) =>
        json is null ? null : JsonSerializer.Deserialize<Item[]>(json)?.Select(i => new Driver(i.f, i.c)).ToArray();
}
