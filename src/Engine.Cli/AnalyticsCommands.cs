using System.CommandLine;
using System.Globalization;
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Spectre.Console;

namespace Engine.Cli;

/// <summary>Population tables: <c>engine cohorts</c>.</summary>
public static class AnalyticsCommands
{
    public static Command Cohorts()
    {
        var period = new Option<string>("--period") { Description = "week (ISO, from Monday) or month, UTC", DefaultValueFactory = _ => "month" };
        var metric = new Option<string>("--metric") { Description = "customers (with a purchase in the period) or revenue (purchases less refunds)", DefaultValueFactory = _ => "customers" };
        var from = new Option<string?>("--from") { Description = "Only customers whose first purchase is on or after this day (YYYY-MM-DD, UTC)" };
        var to = new Option<string?>("--to") { Description = "Only customers whose first purchase is before this day (YYYY-MM-DD, UTC)" };
        var counts = new Option<bool>("--counts") { Description = "Show customers as counts, not as shares of the cohort" };
        var command = new Command("cohorts", "Retention by acquisition cohort: customers by the period of their first purchase, and what they did after")
        {
            period, metric, from, to, counts,
        };
        Common.SetAction(command, async (parse, ct) =>
        {
            var request = new GetCohortsRequest
            {
                Period = parse.GetValue(period)!.ToLowerInvariant() switch
                {
                    "week" => CohortPeriod.Week,
                    "month" => CohortPeriod.Month,
                    var p => throw new UsageException($"--period: '{p}' is not week or month"),
                },
                Metric = parse.GetValue(metric)!.ToLowerInvariant() switch
                {
                    "customers" => CohortMetric.Customers,
                    "revenue" => CohortMetric.Revenue,
                    var m => throw new UsageException($"--metric: '{m}' is not customers or revenue"),
                },
                From = Day(parse.GetValue(from), "--from"),
                To = Day(parse.GetValue(to), "--to"),
            };
            var answer = await new AnalyticsService.AnalyticsServiceClient(Common.Channel(parse)).GetCohortsAsync(request, cancellationToken: ct);
            var shares = answer.Metric == CohortMetric.Customers && !parse.GetValue(counts);
            Output.Show(parse, answer, () => Table(answer, shares));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Timestamp? Day(string? text, string option) =>
        text is null ? null
        : DateTime.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var day)
            ? Timestamp.FromDateTime(DateTime.SpecifyKind(day, DateTimeKind.Utc))
            : throw new UsageException($"{option}: '{text}' is not a day (YYYY-MM-DD)");

    /// <summary>
    /// The triangle: a row per cohort, its size, then period 0, 1, ... after it (customers as a whole-percent share of the
    /// size unless --counts; revenue rounded). As many periods as fit the console's width; JSON has them all, unrounded.
    /// </summary>
    private static Table Table(GetCohortsResponse answer, bool shares)
    {
        var unit = answer.Period == CohortPeriod.Week ? "week" : "month";
        var what = answer.Metric == CohortMetric.Revenue ? "revenue" : shares ? "share of the cohort with a purchase" : "customers with a purchase";
        var rows = answer.Cohorts.Select(c => (Cohort: c, Cells: c.Values.Select(v =>
            answer.Metric == CohortMetric.Revenue ? Output.Number(v, 0)
            : shares ? (c.Size == 0 ? 0 : 100 * v / c.Size).ToString("0", CultureInfo.InvariantCulture) + "%"
            : ((long)v).ToString("N0", CultureInfo.InvariantCulture)).ToList())).ToList();
        var periods = rows.Select(r => r.Cells.Count).DefaultIfEmpty(0).Max();
        var cellWidth = rows.SelectMany(r => r.Cells).Select(c => c.Length).Append(periods.ToString(CultureInfo.InvariantCulture).Length).Max();
        var sizeWidth = rows.Select(r => r.Cohort.Size.ToString("N0", CultureInfo.InvariantCulture).Length).Append(4).Max();
        // Each column takes its text plus a space either side and a border.
        var shown = Math.Min(periods, Math.Max(1, (AnsiConsole.Profile.Width - 1 - 13 - (sizeWidth + 3)) / (cellWidth + 3)));
        var table = new Table().Border(TableBorder.Rounded).Title($"cohorts by first-purchase {unit}: {what}, {unit}s after")
            .AddColumn(new TableColumn("cohort").NoWrap()).AddColumn(new TableColumn("size").RightAligned().NoWrap());
        for (var k = 0; k < shown; k++)
        {
            table.AddColumn(new TableColumn(k.ToString(CultureInfo.InvariantCulture)).RightAligned().NoWrap());
        }
        if (shown < periods)
        {
            table.Caption($"{unit}s {shown}-{periods - 1} left out: a wider terminal or --output json shows them");
        }
        foreach (var (c, cells) in rows)
        {
            table.AddRow([Output.Day(c.Start), c.Size.ToString("N0", CultureInfo.InvariantCulture),
                .. cells.Take(shown), .. Enumerable.Repeat("", shown - Math.Min(shown, cells.Count))]);
        }
        return table;
    }
}
