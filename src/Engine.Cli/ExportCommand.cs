using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Engine.Api.V1;
using nietras.SeparatedValues;

namespace Engine.Cli;

/// <summary>
/// <c>engine export segment NAME|ID</c>: every member of a segment of the current model (ListSegmentMembers, page by
/// page) as CSV or JSON lines on stdout, or in <c>--output FILE</c>; a line on stderr says how many.
/// </summary>
public static class ExportCommand
{
    private const int PageSize = 1000;

    private static readonly string[] Columns =
        ["customer_id", "segment_id", "segment_name", "confidence", "recency_days", "frequency", "monetary", "as_of"];

    public static Command Create()
    {
        var segment = new Argument<string>("segment") { Description = "A segment id (seg-3) or name (\"At risk\")" };
        var format = new Option<string>("--format") { Description = "csv or jsonl", DefaultValueFactory = _ => "csv" };
        format.AcceptOnlyFromAmong("csv", "jsonl");
        var minConfidence = new Option<double>("--min-confidence") { Description = "Only members at least this confident (0-1)" };
        var output = new Option<FileInfo?>("--file", "-f") { Description = "Write here instead of stdout" };
        var command = new Command("segment", "Every customer of a segment of the current model, with confidence and RFM") { segment, format, minConfidence, output };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new SegmentService.SegmentServiceClient(Common.Channel(parse));
            await using var file = parse.GetValue(output) is { } f ? new StreamWriter(f.FullName) : null;
            var writer = (TextWriter?)file ?? Console.Out;
            var request = new ListSegmentMembersRequest { Segment = parse.GetValue(segment)!, PageSize = PageSize, MinConfidence = parse.GetValue(minConfidence) };
            var pages = ReadAllAsync(client, request, ct);
            var (count, last) = parse.GetValue(format) == "jsonl" ? await WriteJsonLinesAsync(pages, writer) : await WriteCsvAsync(pages, writer);
            await writer.FlushAsync(ct);
            if (last is not null)
            {
                Console.Error.WriteLine($"{count:N0} customers of {last.SegmentId} \"{last.SegmentName}\" (model {last.ModelVersion}; {last.TotalSize:N0} members when the listing began)");
            }
            return ExitCodes.Ok;
        });
        return new Command("export", "Export data from a running server") { command };
    }

    private static async IAsyncEnumerable<ListSegmentMembersResponse> ReadAllAsync(SegmentService.SegmentServiceClient client,
        ListSegmentMembersRequest request, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        while (true)
        {
            var page = await client.ListSegmentMembersAsync(request, cancellationToken: ct);
            yield return page;
            if (page.NextPageToken.Length == 0)
            {
                yield break;
            }
            request = new ListSegmentMembersRequest { PageToken = page.NextPageToken, PageSize = request.PageSize, MinConfidence = request.MinConfidence };
        }
    }

    private static async Task<(long, ListSegmentMembersResponse?)> WriteCsvAsync(IAsyncEnumerable<ListSegmentMembersResponse> pages, TextWriter output)
    {
        using var csv = Sep.Writer(o => o with { Sep = new Sep(','), Escape = true }).To(output, leaveOpen: true);
        var (count, last) = (0L, (ListSegmentMembersResponse?)null);
        await foreach (var page in pages)
        {
            foreach (var c in page.Customers)
            {
                using var row = csv.NewRow();
                var values = Values(c);
                for (var i = 0; i < Columns.Length; i++)
                {
                    row[Columns[i]].Set(values[i]);
                }
                count++;
            }
            last = page;
        }
        return (count, last);
    }

    private static async Task<(long, ListSegmentMembersResponse?)> WriteJsonLinesAsync(IAsyncEnumerable<ListSegmentMembersResponse> pages, TextWriter output)
    {
        var (count, last) = (0L, (ListSegmentMembersResponse?)null);
        await foreach (var page in pages)
        {
            foreach (var c in page.Customers)
            {
                var values = Values(c);
                await output.WriteLineAsync(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    [Columns[0]] = c.CustomerId, [Columns[1]] = c.SegmentId, [Columns[2]] = c.SegmentName,
                    [Columns[3]] = c.Confidence, [Columns[4]] = c.Rfm.RecencyDays, [Columns[5]] = c.Rfm.Frequency,
                    [Columns[6]] = c.Rfm.Monetary, [Columns[7]] = values[7],
                }));
                count++;
            }
            last = page;
        }
        return (count, last);
    }

    private static string[] Values(Customer c) =>
    [
        c.CustomerId, c.SegmentId, c.SegmentName, c.Confidence.ToString("R", CultureInfo.InvariantCulture),
        c.Rfm.RecencyDays.ToString("R", CultureInfo.InvariantCulture), c.Rfm.Frequency.ToString(CultureInfo.InvariantCulture),
        c.Rfm.Monetary.ToString("R", CultureInfo.InvariantCulture), c.AsOf?.ToDateTime().ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture) ?? "",
    ];
}
