using System.CommandLine;
using Engine.Api.V1;
using Spectre.Console;

namespace Engine.Cli;

/// <summary><c>engine quarantine list|replay|discard</c>: accepted events their customer could not apply (docs/input-limits.md).</summary>
public static class QuarantineCommands
{
    public static Command Create()
    {
        var all = new Option<bool>("--all") { Description = "Also the discarded ones" };
        var list = new Command("list", "Quarantined events in log order, with the error") { all };
        Common.SetAction(list, async (parse, ct) =>
        {
            var client = Client(parse);
            var response = new ListQuarantinedEventsResponse();
            var request = new ListQuarantinedEventsRequest { PageSize = 1000, IncludeDiscarded = parse.GetValue(all) };
            do
            {
                var page = await client.ListQuarantinedEventsAsync(request, cancellationToken: ct);
                response.Events.AddRange(page.Events);
                request.PageToken = page.NextPageToken;
            }
            while (request.PageToken.Length > 0);
            Output.Show(parse, response, () =>
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumns("log position", "customer", "event", "quarantined", "discarded", "error");
                foreach (var q in response.Events)
                {
                    table.AddRow(q.LogPosition.ToString(), q.Event.CustomerId, q.Event.EventId, Output.When(q.QuarantinedAt), Output.When(q.DiscardedAt), q.Error);
                }
                return table;
            });
            return ExitCodes.Ok;
        });

        var position = new Argument<long>("log-position") { Description = "The event's log position (the first column of list)" };
        var replay = new Command("replay", "Apply a quarantined event now, once its cause is fixed; it leaves the quarantine") { position };
        Common.SetAction(replay, async (parse, ct) =>
        {
            var r = await Client(parse).ReplayQuarantinedEventAsync(new ReplayQuarantinedEventRequest { LogPosition = parse.GetValue(position) }, cancellationToken: ct);
            Output.Show(parse, r, () => Output.Pairs(("replayed", parse.GetValue(position).ToString()), ("customer", r.Customer.CustomerId),
                ("segment", $"{r.Customer.SegmentName} ({r.Customer.SegmentId})"), ("frequency", r.Customer.Rfm.Frequency.ToString("N0"))));
            return ExitCodes.Ok;
        });

        var discardPosition = new Argument<long>("log-position") { Description = "The event's log position (the first column of list)" };
        var discard = new Command("discard", "Never apply a quarantined event; it stays in the log and the list, marked") { discardPosition };
        Common.SetAction(discard, async (parse, ct) =>
        {
            var q = await Client(parse).DiscardQuarantinedEventAsync(new DiscardQuarantinedEventRequest { LogPosition = parse.GetValue(discardPosition) }, cancellationToken: ct);
            Output.Show(parse, q, () => Output.Pairs(("discarded", q.LogPosition.ToString()), ("event", q.Event.EventId), ("at", Output.When(q.DiscardedAt))));
            return ExitCodes.Ok;
        });
        return new Command("quarantine", "Events their customer could not apply: list, replay, discard") { list, replay, discard };
    }

    private static AdminService.AdminServiceClient Client(ParseResult parse) => new(Common.Channel(parse));
}
