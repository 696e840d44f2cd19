using System.ComponentModel;
using System.Globalization;

namespace Engine.Grains;

/// <summary>How "now" is told. Configured as <c>wall</c> or <c>event-time</c>.</summary>
[TypeConverter(typeof(ClockModeConverter))]
public enum ClockMode
{
    /// <summary><c>wall</c>: now is the wall clock.</summary>
    Wall,

    /// <summary><c>event-time</c>: now is the latest occurred_at seen (the watermark), so a replayed history keeps its own time.</summary>
    EventTime,
}

/// <summary>Where the data lives. Configured as <c>sqlite</c> or <c>postgres</c>.</summary>
[TypeConverter(typeof(StorageKindConverter))]
public enum StorageKind
{
    /// <summary><c>sqlite</c>: two files under Engine:DataDirectory, one silo.</summary>
    Sqlite,

    /// <summary><c>postgres</c>: one PostgreSQL database, any number of silos.</summary>
    Postgres,
}

/// <summary>The configuration words of an enum: each value has exactly one, and nothing else binds.</summary>
public abstract class ConfigWordConverter<T>(params (string Word, T Value)[] words) : EnumConverter(typeof(T)) where T : struct, Enum
{
    /// <summary>The accepted words, as a message lists them.</summary>
    public static string Allowed(params (string Word, T Value)[] words) => string.Join(", ", words.Select(w => w.Word));

    public string WordOf(T value) => words.First(w => w.Value.Equals(value)).Word;

    public override object ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value)
    {
        if (value is string s)
        {
            foreach (var (word, v) in words)
            {
                if (string.Equals(word, s.Trim(), StringComparison.OrdinalIgnoreCase))
                {
                    return v;
                }
            }
            throw new FormatException($"'{s}' is not one of: {Allowed(words)}");
        }
        return base.ConvertFrom(context, culture, value)!;
    }

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is T t ? WordOf(t) : base.ConvertTo(context, culture, value, destinationType);
}

public sealed class ClockModeConverter() : ConfigWordConverter<ClockMode>(("wall", ClockMode.Wall), ("event-time", ClockMode.EventTime));

public sealed class StorageKindConverter() : ConfigWordConverter<StorageKind>(("sqlite", StorageKind.Sqlite), ("postgres", StorageKind.Postgres));

/// <summary>The configuration word of a <see cref="ClockMode"/> or <see cref="StorageKind"/>, as a user writes it.</summary>
public static class ConfigWords
{
    public static string Of(ClockMode mode) => new ClockModeConverter().WordOf(mode);

    public static string Of(StorageKind kind) => new StorageKindConverter().WordOf(kind);
}
