using System.Globalization;

namespace Engine.Cli.Import;

/// <summary>
/// <c>--time</c> cells to UTC instants. By default ISO 8601: a date, or a date and time with <c>T</c> or a space between,
/// optional fractions of a second, and an optional offset (<c>Z</c>, <c>+02:00</c>). With <c>--time-format</c>, a .NET
/// custom format. A time without an offset is in <c>--time-zone</c> (an IANA name; UTC by default).
/// </summary>
public sealed class EventTime
{
    private static readonly string[] Iso =
    [
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mmK", "yyyy-MM-dd HH:mmK",
        "yyyy-MM-ddK",
    ];

    private readonly string[] _formats;
    private readonly TimeZoneInfo _zone;

    public EventTime(string? format, string? zone)
    {
        _formats = format is null ? Iso : [format];
        try
        {
            _zone = zone is null ? TimeZoneInfo.Utc : TimeZoneInfo.FindSystemTimeZoneById(zone);
        }
        catch (TimeZoneNotFoundException)
        {
            throw new UsageException($"--time-zone: '{zone}' is not a time zone (an IANA name, e.g. Europe/London)");
        }
    }

    /// <summary>The instant in UTC; a cell that does not match throws <see cref="FormatException"/>.</summary>
    public DateTime Parse(string text)
    {
        if (!DateTime.TryParseExact(text.Trim(), _formats, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var t))
        {
            throw new FormatException(_formats == Iso
                ? $"'{text}' is not an ISO 8601 time (use --time-format for another format)"
                : $"'{text}' does not match --time-format '{_formats[0]}'");
        }
        return t.Kind switch
        {
            DateTimeKind.Utc => t,
            // An offset in the text: RoundtripKind gave local time; back to UTC exactly.
            DateTimeKind.Local => t.ToUniversalTime(),
            _ => TimeZoneInfo.ConvertTimeToUtc(t, _zone),
        };
    }
}
