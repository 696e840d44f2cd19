using System.CommandLine;
using Engine.Api.V1;
using Spectre.Console;

namespace Engine.Cli;

/// <summary><c>engine customer ID</c> and <c>engine history ID</c>.</summary>
public static class CustomerCommands
{
    public static Command Customer()
    {
        var id = new Argument<string>("customer-id");
        var history = new Option<bool>("--history") { Description = "Print the transition history too" };
        var command = new Command("customer", "A customer's segment, confidence, RFM and features") { id, history };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new SegmentService.SegmentServiceClient(Common.Channel(parse));
            var c = await client.GetCustomerAsync(new GetCustomerRequest { CustomerId = parse.GetValue(id)! }, cancellationToken: ct);
            Output.Show(parse, c, () => Table(c));
            if (parse.GetValue(history))
            {
                await ShowHistoryAsync(parse, client, c.CustomerId, 0, "all", ct);
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command History()
    {
        var id = new Argument<string>("customer-id");
        var limit = new Option<int>("--limit") { Description = "At most this many transitions, newest first (0 = all retained)" };
        var kind = new Option<string?>("--kind") { Description = "Moves of learned segments (LEARNED, the default), of named RFM segments (RFM), or ALL" };
        var command = new Command("history", "A customer's segment transitions, newest first, with their cause and drivers") { id, limit, kind };
        Common.SetAction(command, async (parse, ct) =>
        {
            await ShowHistoryAsync(parse, new SegmentService.SegmentServiceClient(Common.Channel(parse)), parse.GetValue(id)!, parse.GetValue(limit),
                parse.GetValue(kind), ct);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task ShowHistoryAsync(ParseResult parse, SegmentService.SegmentServiceClient client, string id, int limit, string? kind,
        CancellationToken ct)
    {
        var h = await client.GetHistoryAsync(new GetHistoryRequest { CustomerId = id, Limit = limit, Kinds = { Durations.Kinds(kind) } }, cancellationToken: ct);
        Output.Show(parse, h, () =>
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumns("at", "kind", "from", "to", "cause", "moved most by");
            foreach (var t in h.Transitions)
            {
                // The two features that moved the customer most; the JSON has all three with their contributions, and the model.
                table.AddRow(Output.Day(t.At), t.Kind == SegmentKind.Rfm ? "rfm" : "learned", t.FromSegmentId, t.ToSegmentId, Output.Cause(t.Cause),
                    string.Join(", ", t.Drivers.Take(2).Select(d => d.Feature)));
            }
            return table;
        });
    }

    private static Table Table(Customer c) => Output.Pairs(
    [
        ("customer", c.CustomerId),
        ("segment", $"{c.SegmentName} ({c.SegmentId}), model {c.ModelVersion}"),
        ("confidence", $"{Output.Number(c.Confidence, 3)} (next: {(c.SecondSegmentId.Length > 0 ? c.SecondSegmentId : "none")}, margin {Output.Number(c.Margin, 3)})"),
        ("recency", $"{Output.Number(c.Rfm.RecencyDays, 1)} days"),
        ("frequency", c.Rfm.Frequency.ToString("N0")),
        ("monetary", Output.Number(c.Rfm.Monetary)),
        ("RFM", c.RScore > 0 ? $"{c.RScore}-{c.FScore}-{c.MScore}, {c.RfmSegment} ({c.RfmSegmentId})" : "none (no purchase)"),
        .. c.Features.Where(f => f.Key is not ("recency_days" or "frequency" or "monetary")).Select(f => (f.Key, Output.Number(f.Value, 3))),
        ("events", c.EventCount.ToString("N0")),
        ("last event", Output.When(c.LastEventAt)),
        ("as of", Output.When(c.AsOf)),
    ]);
}
