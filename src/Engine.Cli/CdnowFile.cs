using System.Globalization;
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;

namespace Engine.Cli;

/// <summary>One row of the CDNOW master file: a purchase of some CDs by a customer on a day.</summary>
public readonly record struct CdnowRow(int Line, string CustomerId, DateTime Day, int Cds, double Dollars);

/// <summary>
/// Reads CDNOW_master.txt (whitespace-separated, space-padded, CRLF, one header line) and turns each row into a
/// PURCHASE event with a stable event id, so importing twice counts every row once.
/// </summary>
public static class CdnowFile
{
    public static IEnumerable<CdnowRow> Read(string path) => Read(File.ReadLines(path));

    /// <summary>
    /// The file's events for <c>engine import --format cdnow</c>, in time order as they would have arrived live (the file
    /// is sorted by customer; it is small enough to sort in memory).
    /// </summary>
    public static IEnumerable<Import.ImportItem> Read(Stream stream)
    {
        using var reader = new StreamReader(stream, leaveOpen: true);
        var rows = Read(Lines(reader)).OrderBy(r => r.Day).ThenBy(r => r.Line).ToList();
        return rows.Select(r => new Import.ImportItem(r.Line, ToEvent(r), null));
    }

    private static IEnumerable<string> Lines(StreamReader reader)
    {
        while (reader.ReadLine() is { } line)
        {
            yield return line;
        }
    }

    private static IEnumerable<CdnowRow> Read(IEnumerable<string> lines)
    {
        var line = 0;
        foreach (var text in lines)
        {
            line++;
            var f = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length != 4 || !char.IsDigit(f[0][0]))
            {
                continue; // the header and blank lines
            }
            yield return new CdnowRow(line, f[0],
                DateTime.SpecifyKind(DateTime.ParseExact(f[1], "yyyyMMdd", CultureInfo.InvariantCulture), DateTimeKind.Utc),
                int.Parse(f[2], CultureInfo.InvariantCulture), double.Parse(f[3], CultureInfo.InvariantCulture));
        }
    }

    public static Event ToEvent(CdnowRow row)
    {
        var e = new Event
        {
            EventId = $"cdnow-{row.Line}",
            CustomerId = row.CustomerId,
            Type = EventType.Purchase,
            OccurredAt = Timestamp.FromDateTime(row.Day),
            Amount = row.Dollars,
        };
        e.Attributes["number_of_cds"] = row.Cds.ToString(CultureInfo.InvariantCulture);
        return e;
    }

    /// <summary>RFM per customer computed straight from the file, as of the last day in it (the event-time watermark).</summary>
    public static Dictionary<string, (double RecencyDays, long Frequency, double Monetary)> DirectRfm(IReadOnlyList<CdnowRow> rows)
    {
        var asOf = rows.Max(r => r.Day);
        return rows.GroupBy(r => r.CustomerId).ToDictionary(g => g.Key, g =>
            ((asOf - g.Max(r => r.Day)).TotalDays, (long)g.Count(), g.Sum(r => r.Dollars)));
    }
}
