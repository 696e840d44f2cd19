using System.CommandLine;
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Spectre.Console;

namespace Engine.Cli;

/// <summary><c>engine watch</c> (live migrations) and <c>engine webhook …</c>.</summary>
public static class AlertCommands
{
    private static readonly Option<string[]> From = new("--from") { Description = "Only moves from this segment, by id or name (repeatable; unassigned = first assignments)" };
    private static readonly Option<string[]> To = new("--to") { Description = "Only moves to this segment, by id or name (repeatable)" };
    private static readonly Option<string[]> Causes = new("--cause") { Description = "Only moves with this cause (EVENT, INACTIVITY, RETRAIN; repeatable)" };
    private static readonly Option<string?> Kind = new("--kind") { Description = "Moves of learned segments (LEARNED, the default), of named RFM segments (RFM), or ALL" };
    private static readonly Option<string?> MinDwell = new("--min-dwell") { Description = "Only once the customer stayed this long in the new segment (7d, 12h)" };

    public static Command Watch()
    {
        var since = new Option<string?>("--since") { Description = "Resume after this cursor (the first column of an earlier line); default: the oldest retained" };
        var live = new Option<bool>("--live") { Description = "Only moves from now on" };
        var count = new Option<int>("--count") { Description = "Stop after this many migrations (0 = run until Ctrl-C)" };
        var command = new Command("watch", "Live migrations between segments, one line each; Ctrl-C stops, --since CURSOR resumes")
        {
            From, To, Causes, Kind, MinDwell, since, live, count,
        };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new AlertService.AlertServiceClient(Common.Channel(parse));
            var filter = Filter(parse);
            var request = new SubscribeMigrationsRequest { ResumeAfter = parse.GetValue(since) ?? "", LiveOnly = parse.GetValue(live), MinDwell = filter.MinDwell };
            request.FromSegmentIds.AddRange(filter.FromSegmentIds);
            request.ToSegmentIds.AddRange(filter.ToSegmentIds);
            request.Causes.AddRange(filter.Causes);
            request.Kinds.AddRange(filter.Kinds);
            var (json, left) = (Output.Json(parse), parse.GetValue(count));
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var call = client.SubscribeMigrations(request, cancellationToken: stop.Token);
            try
            {
                if ((await call.ResponseHeadersAsync).GetValue("engine-warning") is { } warning)
                {
                    Console.Error.WriteLine($"warning: {warning}");
                }
                await foreach (var alert in call.ResponseStream.ReadAllAsync(stop.Token))
                {
                    if (json)
                    {
                        Output.Line(alert);
                    }
                    else
                    {
                        Print(alert);
                    }
                    if (--left == 0)
                    {
                        break;
                    }
                }
            }
            catch (Exception e) when (stop.IsCancellationRequested && e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
            {
                // Ctrl-C: a normal end.
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Print(MigrationAlert alert)
    {
        var t = alert.Transition;
        AnsiConsole.MarkupLineInterpolated(
            $"[grey]{alert.Cursor,8}[/]  {Output.When(t.At)}  {alert.CustomerId,-12} {Named(t.FromSegmentId, t.FromSegmentName)} → [bold]{Named(t.ToSegmentId, t.ToSegmentName)}[/]  {Output.Cause(t.Cause)}  [grey]{string.Join(", ", t.Drivers.Select(d => d.Feature))}[/]");
    }

    public static Command Webhook()
    {
        var url = new Argument<string>("url") { Description = "An http(s) URL that takes a JSON POST per alert" };
        var secret = new Option<string?>("--secret") { Description = "Signing secret (default: the server makes a whsec_ secret and prints it once)" };
        var fromStart = new Option<bool>("--from-start") { Description = "Deliver the whole retained log first" };
        var format = new Option<string?>("--format") { Description = "engine (default), slack or braze_attributes" };
        var headers = new Option<string[]>("--header") { Description = "NAME=VALUE sent with every POST, e.g. \"Authorization=Bearer ...\" (repeatable)" };
        var maxBatch = new Option<int>("--max-batch") { Description = "Alerts per POST (default 1; braze_attributes 75)" };
        var maxWait = new Option<string?>("--max-wait") { Description = "How long to wait for more alerts to fill a POST (e.g. 2s)" };
        var create = new Command("create", "Send matching migrations to a URL, signed, through outages")
        {
            url, secret, fromStart, format, headers, maxBatch, maxWait, From, To, Causes, Kind, MinDwell,
        };
        Common.SetAction(create, async (parse, ct) =>
        {
            var request = new CreateWebhookRequest
            {
                Url = parse.GetValue(url)!, Secret = parse.GetValue(secret) ?? "", FromStart = parse.GetValue(fromStart), Filter = Filter(parse),
                Format = parse.GetValue(format) ?? "", MaxBatch = parse.GetValue(maxBatch),
            };
            if (parse.GetValue(maxWait) is { } wait)
            {
                request.MaxWait = Duration.FromTimeSpan(Durations.Parse(wait, "--max-wait"));
            }
            foreach (var header in parse.GetValue(headers) ?? [])
            {
                var equals = header.IndexOf('=');
                request.Headers[equals > 0 ? header[..equals] : throw new UsageException($"--header: '{header}' is not NAME=VALUE")] = header[(equals + 1)..];
            }
            var w = await Client(parse).CreateWebhookAsync(request, cancellationToken: ct);
            Output.Show(parse, w, () => Output.Pairs(("id", w.Id), ("url", w.Url), ("filter", Describe(w.Filter)), ("secret", $"{w.Secret} (shown once: keep it)")));
            return ExitCodes.Ok;
        });

        var list = new Command("list", "The webhooks");
        Common.SetAction(list, async (parse, ct) =>
        {
            var r = await Client(parse).ListWebhooksAsync(new ListWebhooksRequest(), cancellationToken: ct);
            Output.Show(parse, r, () =>
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "url", "filter", "state", "lag", "last success", "last error");
                foreach (var w in r.Webhooks)
                {
                    var state = w.State == "paused" ? $"paused until {Output.When(w.PausedUntil)}" : w.State;
                    table.AddRow(w.Id, w.Url, Describe(w.Filter), state, w.Lag.ToString("N0"), Output.When(w.LastSuccessAt), w.LastError);
                }
                return table;
            });
            return ExitCodes.Ok;
        });

        var id = new Argument<string>("id");
        var delete = new Command("delete", "Stop and remove a webhook") { id };
        Common.SetAction(delete, async (parse, ct) =>
        {
            var r = await Client(parse).DeleteWebhookAsync(new DeleteWebhookRequest { Id = parse.GetValue(id)! }, cancellationToken: ct);
            Output.Show(parse, r, () => new Text($"deleted {parse.GetValue(id)}\n"));
            return ExitCodes.Ok;
        });

        var of = new Argument<string?>("webhook-id") { Description = "Only this webhook's", Arity = ArgumentArity.ZeroOrOne };
        var dead = new Command("dead-letters", "Alerts a webhook did not take after its attempts") { of };
        Common.SetAction(dead, async (parse, ct) =>
        {
            var r = await Client(parse).ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = parse.GetValue(of) ?? "" }, cancellationToken: ct);
            Output.Show(parse, r, () =>
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumns("webhook", "cursor", "attempts", "failed at", "last error");
                foreach (var d in r.DeadLetters)
                {
                    table.AddRow(d.WebhookId, d.Cursor, d.Attempts.ToString(), Output.When(d.FailedAt), d.LastError);
                }
                return table;
            });
            return ExitCodes.Ok;
        });
        var hook = new Argument<string>("webhook-id");
        var cursors = new Option<string[]>("--cursor") { Description = "Only the dead letter at this cursor (repeatable; default: all of the webhook's)" };
        var redeliver = new Command("redeliver", "Send a webhook's dead letters again; those its receiver takes leave the list") { hook, cursors };
        Common.SetAction(redeliver, async (parse, ct) =>
        {
            var request = new RedeliverDeadLettersRequest { WebhookId = parse.GetValue(hook)! };
            request.Cursors.AddRange(parse.GetValue(cursors) ?? []);
            var r = await Client(parse).RedeliverDeadLettersAsync(request, cancellationToken: ct);
            Output.Show(parse, r, () => Output.Pairs(("redelivered", r.Redelivered.ToString("N0")), ("failed", r.Failed.ToString("N0")), ("last error", r.LastError)));
            return r.Failed == 0 ? ExitCodes.Ok : ExitCodes.Failure;
        });
        return new Command("webhook", "Webhooks: create, list, delete, dead-letters, redeliver") { create, list, delete, dead, redeliver };
    }

    private static AlertService.AlertServiceClient Client(ParseResult parse) => new(Common.Channel(parse));

    private static string Named(string id, string name) => name.Length == 0 || name == id ? id : $"{name} ({id})";

    private static AlertFilter Filter(ParseResult parse)
    {
        var filter = new AlertFilter();
        filter.FromSegmentIds.AddRange(parse.GetValue(From) ?? []);
        filter.ToSegmentIds.AddRange(parse.GetValue(To) ?? []);
        filter.Causes.AddRange((parse.GetValue(Causes) ?? []).Select(Durations.Cause));
        if (parse.GetValue(Kind) is { } kind)
        {
            filter.Kinds.AddRange(Durations.Kinds(kind));
        }
        if (parse.GetValue(MinDwell) is { } dwell)
        {
            filter.MinDwell = Duration.FromTimeSpan(Durations.Parse(dwell, "--min-dwell"));
        }
        return filter;
    }

    private static string Describe(AlertFilter? f) => f is null ? "any" : string.Join("; ", new[]
    {
        f.FromSegmentIds.Count > 0 ? $"from {string.Join(", ", f.FromSegmentIds)}" : null,
        f.ToSegmentIds.Count > 0 ? $"to {string.Join(", ", f.ToSegmentIds)}" : null,
        f.Causes.Count > 0 ? $"cause {string.Join(", ", f.Causes.Select(Output.Cause))}" : null,
        f.Kinds.Count > 0 ? $"kind {string.Join(", ", f.Kinds)}" : null,
        f.MinDwell is { } d ? $"dwell {d.ToTimeSpan()}" : null,
    }.Where(x => x is not null).DefaultIfEmpty("any"));
}
