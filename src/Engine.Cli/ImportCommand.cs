using System.CommandLine;
using System.Diagnostics;
using Engine.Api.V1;
using Spectre.Console;

namespace Engine.Cli;

/// <summary>`engine import cdnow FILE`: streams the CDNOW log through IngestStream with a progress bar.</summary>
public static class ImportCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "Path to CDNOW_master.txt" };
        var batch = new Option<int>("--batch") { Description = "Events per request (at most 10000)", DefaultValueFactory = _ => 2000 };
        var until = new Option<DateTime?>("--until") { Description = "Only the rows up to this day (yyyy-MM-dd, inclusive); import the rest later, the rows already sent come back as duplicates" };
        var rate = new Option<int>("--rate") { Description = "Events per second at most, as a live feed would send them (0 = as fast as the server takes them)", DefaultValueFactory = _ => 0 };
        var cdnow = new Command("cdnow", "Import the CDNOW transaction log (run the server with Engine:Clock=event-time)") { file, batch, until, rate };
        cdnow.SetAction(async (parse, ct) =>
        {
            // Replay in time order (the file is sorted by customer), as the events would have arrived live.
            var last = parse.GetValue(until) is { } day ? DateTime.SpecifyKind(day.Date, DateTimeKind.Utc) : DateTime.MaxValue;
            var rows = CdnowFile.Read(parse.GetValue(file)!.FullName).Where(r => r.Day <= last).OrderBy(r => r.Day).ThenBy(r => r.Line).ToList();
            var client = new IngestService.IngestServiceClient(Common.Channel(parse));
            var watch = Stopwatch.StartNew();
            long accepted = 0, duplicates = 0, rejected = 0;
            using var call = client.IngestStream(cancellationToken: ct);
            var requests = rows.Select(CdnowFile.ToEvent).Chunk(parse.GetValue(batch)).Select(chunk =>
            {
                var r = new IngestRequest();
                r.Events.AddRange(chunk);
                return r;
            }).ToList();
            await AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async progress =>
                {
                    var task = progress.AddTask($"importing {rows.Count:N0} events", maxValue: rows.Count);
                    var reader = Task.Run(async () =>
                    {
                        while (await call.ResponseStream.MoveNext(ct))
                        {
                            var r = call.ResponseStream.Current;
                            accepted += r.Accepted;
                            duplicates += r.Duplicates;
                            rejected += r.Rejected.Count;
                            task.Increment(r.Accepted + r.Duplicates + r.Rejected.Count);
                        }
                    }, ct);
                    var (perSecond, sent) = (parse.GetValue(rate), 0L);
                    foreach (var r in requests)
                    {
                        await call.RequestStream.WriteAsync(r, ct);
                        sent += r.Events.Count;
                        if (perSecond > 0 && TimeSpan.FromSeconds((double)sent / perSecond) - watch.Elapsed is { Ticks: > 0 } ahead)
                        {
                            await Task.Delay(ahead, ct);
                        }
                    }
                    await call.RequestStream.CompleteAsync();
                    await reader;
                });
            Common.PrintJson(new
            {
                events = rows.Count,
                customers = rows.Select(r => r.CustomerId).Distinct().Count(),
                accepted,
                duplicates,
                rejected,
                seconds = Math.Round(watch.Elapsed.TotalSeconds, 2),
                events_per_second = Math.Round(rows.Count / watch.Elapsed.TotalSeconds),
            });
            return rejected == 0 ? 0 : 1;
        });
        return new Command("import", "Import a transaction log into a running server") { cdnow };
    }
}
