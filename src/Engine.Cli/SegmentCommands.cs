using System.CommandLine;
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Spectre.Console;

namespace Engine.Cli;

/// <summary><c>engine segments</c>, <c>engine matrix</c> and <c>engine forecast</c>: the population's view.</summary>
public static class SegmentCommands
{
    public static Command Segments()
    {
        var matrix = new Option<bool>("--matrix") { Description = "Print the all-time transition matrix too" };
        var rfm = new Option<bool>("--rfm") { Description = "The named RFM segments instead (Champions, Loyal, ...): size and shares" };
        var command = new Command("segments", "The current segments: size, shares, recency, frequency, monetary, and what sets each apart") { matrix, rfm };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new SegmentService.SegmentServiceClient(Common.Channel(parse));
            if (parse.GetValue(rfm))
            {
                await ShowRfmSegmentsAsync(parse, client, ct);
                return ExitCodes.Ok;
            }
            var list = await client.ListSegmentsAsync(new ListSegmentsRequest(), cancellationToken: ct);
            Output.Show(parse, list, () =>
            {
                // What sets a segment apart (the feature furthest from the population mean) when the terminal has room.
                var wide = AnsiConsole.Profile.Width >= 110;
                var table = new Table().Border(TableBorder.Rounded).Title($"model {list.ModelVersion}")
                    .AddColumns("id", "name", "size", "customers", "revenue", "R (days)", "F", "M", "p_alive", "mean CLV");
                if (wide)
                {
                    table.AddColumn("stands out by");
                }
                foreach (var s in list.Segments.OrderByDescending(s => s.ShareOfRevenue))
                {
                    string Mean(string f, int decimals) => s.Size > 0 && s.Mean.TryGetValue(f, out var v) ? Output.Number(v, decimals) : "";
                    string[] row = [s.SegmentId, s.Name, s.Size.ToString("N0"), Output.Share(s.ShareOfCustomers), Output.Share(s.ShareOfRevenue),
                        Mean("recency_days", 0), Mean("frequency", 1), Mean("monetary", 0), Output.Number(s.MeanPAlive, 2), Output.Number(s.MeanClv)];
                    var standsOut = s.Lift.Where(l => l.Value > 0).OrderByDescending(l => Math.Abs(Math.Log(l.Value))).Take(1)
                        .Select(l => $"{l.Key} ×{Output.Number(l.Value, 1)}");
                    table.AddRow(wide ? [.. row, string.Join("", standsOut)] : row);
                }
                return table;
            });
            if (parse.GetValue(matrix))
            {
                await ShowMatrixAsync(parse, client, new GetTransitionMatrixRequest(), ct);
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task ShowRfmSegmentsAsync(ParseResult parse, SegmentService.SegmentServiceClient client, CancellationToken ct)
    {
        var list = await client.ListRfmSegmentsAsync(new ListRfmSegmentsRequest(), cancellationToken: ct);
        Output.Show(parse, list, () =>
        {
            var table = new Table().Border(TableBorder.Rounded)
                .Title($"RFM segments, model {list.ModelVersion} ({list.CustomersWithoutPurchase:N0} customers without a purchase)")
                .AddColumns("id", "name", "size", "customers", "revenue", "p_alive", "mean CLV");
            foreach (var s in list.Segments)
            {
                table.AddRow(s.SegmentId, s.Name, s.Size.ToString("N0"), Output.Share(s.ShareOfCustomers), Output.Share(s.ShareOfRevenue),
                    Output.Number(s.MeanPAlive, 2), Output.Number(s.MeanClv));
            }
            return table;
        });
    }

    public static Command Matrix()
    {
        var since = new Option<string?>("--since") { Description = "Only moves in this last span of the engine clock: 30d, 12h, ..." };
        var cause = new Option<string[]>("--cause") { Description = "Only moves with this cause (EVENT, INACTIVITY, RETRAIN); repeatable" };
        var version = new Option<long>("--model-version") { Description = "Only moves under this model (0 = any)" };
        var rfm = new Option<bool>("--rfm") { Description = "Moves between the named RFM segments instead of the learned ones" };
        var command = new Command("matrix", "Who moved where: a heat-map of moves between segments, and first assignments") { since, cause, version, rfm };
        Common.SetAction(command, async (parse, ct) =>
        {
            var channel = Common.Channel(parse);
            var request = new GetTransitionMatrixRequest
            {
                ModelVersion = parse.GetValue(version), Kind = parse.GetValue(rfm) ? SegmentKind.Rfm : SegmentKind.Learned,
            };
            request.Causes.AddRange((parse.GetValue(cause) ?? []).Select(Durations.Cause));
            if (parse.GetValue(since) is { } span)
            {
                var now = (await new AdminService.AdminServiceClient(channel).GetServerInfoAsync(new GetServerInfoRequest(), cancellationToken: ct)).Now.ToDateTime();
                request.From = Timestamp.FromDateTime(now - Durations.Parse(span, "--since"));
            }
            await ShowMatrixAsync(parse, new SegmentService.SegmentServiceClient(channel), request, ct);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task ShowMatrixAsync(ParseResult parse, SegmentService.SegmentServiceClient client, GetTransitionMatrixRequest request, CancellationToken ct)
    {
        var m = await client.GetTransitionMatrixAsync(request, cancellationToken: ct);
        Output.Show(parse, m, () =>
        {
            var n = m.SegmentIds.Count;
            var table = new Table().Border(TableBorder.Rounded).Title("moves: from (rows) to (columns)").AddColumn("from \\ to");
            foreach (var id in m.SegmentIds)
            {
                table.AddColumn(new TableColumn(id).RightAligned());
            }
            table.AddColumn(new TableColumn("[grey]moved out[/]").RightAligned());
            for (var i = 0; i < n; i++)
            {
                var cells = new List<Spectre.Console.Rendering.IRenderable> { new Text(m.SegmentIds[i]) };
                for (var j = 0; j < n; j++)
                {
                    var (count, p) = (m.Counts[i * n + j], m.Probabilities[i * n + j]);
                    // Darker blue for a larger share of the row's moves.
                    var shade = count == 0 ? "grey" : p >= 0.5 ? "white on blue" : p >= 0.2 ? "white on navy" : "default";
                    cells.Add(new Markup($"[{shade}]{count:N0}[/]"));
                }
                cells.Add(new Text(Enumerable.Range(0, n).Sum(j => m.Counts[i * n + j]).ToString("N0")));
                table.AddRow(cells);
            }
            table.AddRow([new Markup("[grey]first assigned[/]"), .. m.Entries.Select(e => new Text(e.ToString("N0"))), new Text("")]);
            return table;
        });
    }

    public static Command Forecast()
    {
        var periods = new Option<int>("--periods") { Description = "Periods to project (1-120)", DefaultValueFactory = _ => 3 };
        var period = new Option<string>("--period") { Description = "Length of one period", DefaultValueFactory = _ => "30d" };
        var command = new Command("forecast", "Segment sizes projected ahead with the observed per-period moves (a Markov chain)") { periods, period };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new SegmentService.SegmentServiceClient(Common.Channel(parse));
            var f = await client.ForecastAsync(new ForecastRequest
            {
                Periods = parse.GetValue(periods),
                Period = Duration.FromTimeSpan(Durations.Parse(parse.GetValue(period)!, "--period")),
            }, cancellationToken: ct);
            Output.Show(parse, f, () =>
            {
                var table = new Table().Border(TableBorder.Rounded).AddColumn("segment").AddColumn(new TableColumn("now").RightAligned());
                foreach (var step in f.Steps)
                {
                    table.AddColumn(new TableColumn($"+{step.Period}").RightAligned());
                }
                for (var i = 0; i < f.SegmentIds.Count; i++)
                {
                    table.AddRow([f.SegmentIds[i], f.ObservedSizes[i].ToString("N0"), .. f.Steps.Select(s => Output.Number(s.Sizes[i], 0))]);
                }
                return table;
            });
            return ExitCodes.Ok;
        });
        return command;
    }
}
