using System.Globalization;

namespace Engine.Cli;

/// <summary>Durations as people write them on a command line: <c>30d</c>, <c>12h</c>, <c>90m</c>, <c>45s</c>.</summary>
public static class Durations
{
    public static TimeSpan Parse(string text, string option)
    {
        var t = text.Trim();
        if (t.Length >= 2 && double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n > 0)
        {
            switch (char.ToLowerInvariant(t[^1]))
            {
                case 'd': return TimeSpan.FromDays(n);
                case 'h': return TimeSpan.FromHours(n);
                case 'm': return TimeSpan.FromMinutes(n);
                case 's': return TimeSpan.FromSeconds(n);
            }
        }
        throw new UsageException($"{option}: '{text}' is not a duration (30d, 12h, 90m, 45s)");
    }

    /// <summary>Causes by the API's names (EVENT, INACTIVITY, RETRAIN), any case.</summary>
    public static Api.V1.Cause Cause(string text) =>
        Enum.TryParse<Api.V1.Cause>(text, ignoreCase: true, out var c) && c != Api.V1.Cause.Unspecified && Enum.IsDefined(c)
            ? c
            : throw new UsageException($"--cause: '{text}' is not a cause (EVENT, INACTIVITY, RETRAIN)");

    /// <summary>
    /// <c>--kind</c>: moves between learned segments (LEARNED, the API's default), between named RFM segments (RFM), or
    /// both (ALL), any case.
    /// </summary>
    public static Api.V1.SegmentKind[] Kinds(string? text) => text?.ToUpperInvariant() switch
    {
        null or "LEARNED" => [Api.V1.SegmentKind.Learned],
        "RFM" => [Api.V1.SegmentKind.Rfm],
        "ALL" => [Api.V1.SegmentKind.Learned, Api.V1.SegmentKind.Rfm],
        _ => throw new UsageException($"--kind: '{text}' is not a kind (LEARNED, RFM, ALL)"),
    };
}
