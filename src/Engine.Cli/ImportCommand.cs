using System.CommandLine;
using System.Diagnostics;
using Engine.Api.V1;
using Engine.Cli.Import;
using Spectre.Console;

namespace Engine.Cli;

/// <summary>
/// <c>engine import FILE</c>: any CSV or TSV through a column mapping, or the CDNOW log (<c>--format cdnow</c>),
/// streamed through IngestStream. Progress goes to stderr (on a terminal); the summary, one JSON object, to stdout.
/// Exit code 5 when any row was rejected (the rest are still imported).
/// </summary>
public static class ImportCommand
{
    private const int KeptRejections = 20;

    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "The file: CSV or TSV with a header row, or CDNOW_master.txt" };
        var format = new Option<string?>("--format") { Description = "csv, tsv or cdnow (default: tsv for *.tsv, else csv)" };
        format.AcceptOnlyFromAmong("csv", "tsv", "cdnow");
        var customer = new Option<string?>("--customer") { Description = "Column with the customer id" };
        var time = new Option<string?>("--time") { Description = "Column with the event time" };
        var timeFormat = new Option<string?>("--time-format") { Description = "A .NET custom date format for --time (default: ISO 8601)" };
        var timeZone = new Option<string?>("--time-zone") { Description = "IANA time zone of times without an offset (default: UTC)" };
        var amount = new Option<string?>("--amount") { Description = "Column or expression for the amount: Quantity*UnitPrice, abs(...), + - * /, numbers" };
        var type = new Option<string>("--type") { Description = "Event type of every row (PURCHASE, REFUND, ...)", DefaultValueFactory = _ => "PURCHASE" };
        var typeFrom = new Option<string[]>("--type-from") { Description = "COL:REGEX=TYPE: the type of rows whose column matches (first match wins), e.g. InvoiceNo:^C=REFUND", AllowMultipleArgumentsPerToken = false };
        var category = new Option<string?>("--category") { Description = "Column with the product category" };
        var eventId = new Option<string?>("--event-id") { Description = "Column(s) making the event id, comma-separated (default: SOURCE:LINE)" };
        var source = new Option<string?>("--source") { Description = "Prefix of the default event ids (default: the file's name): the same file imported twice is all duplicates" };
        var until = new Option<DateTime?>("--until") { Description = "Only the rows up to this day (yyyy-MM-dd, inclusive); import the rest later, the rows already sent come back as duplicates" };
        var rate = new Option<int>("--rate") { Description = "Events per second at most, as a live feed would send them (0 = as fast as the server takes them)", DefaultValueFactory = _ => 0 };
        var batch = new Option<int>("--batch") { Description = "Events per request (at most 10000)", DefaultValueFactory = _ => 2000 };
        var rejections = new Option<FileInfo?>("--rejections") { Description = "Write every rejection here (line<TAB>reason), not only the first 20" };
        var dryRun = new Option<bool>("--dry-run") { Description = "Read and map every row, send nothing" };
        var command = new Command("import", "Import events from a CSV or TSV file (or the CDNOW log) into a running server")
        {
            file, format, customer, time, timeFormat, timeZone, amount, type, typeFrom, category, eventId, source, until, rate, batch,
            rejections, dryRun,
        };
        Common.SetAction(command, async (parse, ct) =>
        {
            var path = parse.GetValue(file)!.FullName;
            var kind = parse.GetValue(format) ?? (path.EndsWith(".tsv", StringComparison.OrdinalIgnoreCase) ? "tsv" : "csv");
            ColumnMapping? mapping = null;
            if (kind != "cdnow")
            {
                string Required(Option<string?> o) => parse.GetValue(o) ?? throw new UsageException($"{o.Name} is required for {kind} files");
                mapping = new ColumnMapping(Required(customer), Required(time), Required(amount), parse.GetValue(timeFormat),
                    parse.GetValue(timeZone), RowMapper.ParseType(parse.GetValue(type)!, "--type"), parse.GetValue(typeFrom) ?? [],
                    parse.GetValue(category), parse.GetValue(eventId));
            }
            var last = parse.GetValue(until) is { } day ? DateTime.SpecifyKind(day.Date.AddDays(1), DateTimeKind.Utc) : DateTime.MaxValue;
            using var input = ImportSource.Open(path, kind, mapping, parse.GetValue(source) ?? Path.GetFileName(path));
            using var all = parse.GetValue(rejections) is { } r ? new StreamWriter(r.FullName) : null;
            var totals = new ImportTotals(KeptRejections, all);
            var items = input.Items().Where(i =>
            {
                if (i.Event is { } e && e.OccurredAt.ToDateTime() >= last)
                {
                    totals.Read();
                    totals.Skipped++;
                    return false;
                }
                return true;
            });
            var watch = Stopwatch.StartNew();
            var dry = parse.GetValue(dryRun);
            await WithProgressAsync(input, totals, watch, async onProgress =>
            {
                if (dry)
                {
                    IngestSender.Count(items, totals, onProgress);
                    return;
                }
                var sender = new IngestSender(new IngestService.IngestServiceClient(Common.Channel(parse)), parse.GetValue(batch), parse.GetValue(rate));
                await sender.SendAsync(items, totals, onProgress, ct);
            });
            var seconds = watch.Elapsed.TotalSeconds;
            Common.PrintJson(new
            {
                rows = totals.Rows,
                accepted = totals.Accepted,
                duplicates = totals.Duplicates,
                rejected = totals.Rejected,
                skipped = totals.Skipped,
                dry_run = dry,
                seconds = Math.Round(seconds, 2),
                rows_per_second = Math.Round(totals.Rows / Math.Max(seconds, 1e-3)),
                rejections = totals.FirstRejections.Select(x => new { line = x.Line, reason = x.Reason }),
            });
            return totals.Rejected == 0 ? ExitCodes.Ok : ExitCodes.RowsRejected;
        });
        return command;
    }

    /// <summary>A progress bar with rows/s and the time left on stderr when it is a terminal; nothing otherwise.</summary>
    private static async Task WithProgressAsync(ImportSource input, ImportTotals totals, Stopwatch watch, Func<Action, Task> run)
    {
        if (Console.IsErrorRedirected)
        {
            await run(() => { });
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        await console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask("importing", maxValue: 1);
                await run(() =>
                {
                    task.Value = input.Progress;
                    task.Description = $"{totals.Rows:N0} rows, {totals.Rows / Math.Max(watch.Elapsed.TotalSeconds, 1e-3):N0} rows/s";
                });
                task.Value = 1;
            });
    }
}
