using System.CommandLine;
using System.Globalization;
using Engine.Api.V1;
using Spectre.Console;

namespace Engine.Cli;

/// <summary>The model registry: <c>engine models</c>, <c>engine models compare A B</c> and <c>engine rollback VERSION</c>.</summary>
public static class ModelRegistryCommands
{
    public static Command Models()
    {
        var command = new Command("models", "Every published model, newest first: k, quality, why it was trained, when it was retired") { Compare() };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new ModelService.ModelServiceClient(Common.Channel(parse));
            // The whole registry in one answer: it holds one model per retrain, so it stays small.
            var all = new ListModelsResponse();
            var page = new ListModelsRequest { PageSize = 1000 };
            do
            {
                var answer = await client.ListModelsAsync(page, cancellationToken: ct);
                all.Models.AddRange(answer.Models);
                page.PageToken = answer.NextPageToken;
            }
            while (page.PageToken.Length > 0);
            Output.Show(parse, all, () =>
            {
                // Narrow enough for 80 columns: the retirement time, inertia and the CLV fit are in the JSON.
                var table = new Table().Border(TableBorder.Rounded).Title("models, newest first (PSI: largest drift when retired)");
                foreach (var (name, right) in new[] { ("model", true), ("state", false), ("trained", false), ("reason", false), ("k", true), ("customers", true), ("silh.", true), ("PSI", true) })
                {
                    table.AddColumn(right ? new TableColumn(name).RightAligned().NoWrap() : new TableColumn(name).NoWrap());
                }
                foreach (var m in all.Models)
                {
                    var state = m.RetiredAt is null ? "[green]current[/]" : "retired";
                    var reason = m.RolledBackFrom != 0 ? $"rollback to {m.RolledBackFrom}" : m.Reason;
                    table.AddRow(m.Version.ToString(CultureInfo.InvariantCulture), state, Output.Day(m.TrainedAt), Markup.Escape(reason),
                        m.K.ToString(CultureInfo.InvariantCulture), m.Customers.ToString("N0", CultureInfo.InvariantCulture),
                        Output.Number(m.Silhouette, 3), m.RetiredAt is null ? "" : Output.Number(m.RetiredDriftPsi, 2));
                }
                return table;
            });
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Compare()
    {
        var a = new Argument<long>("a") { Description = "A model version (0 = the current one)" };
        var b = new Argument<long>("b") { Description = "Another (0 = the current one)" };
        var command = new Command("compare", "Where every customer would be under model A (rows) and model B (columns), by current features") { a, b };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new ModelService.ModelServiceClient(Common.Channel(parse));
            var c = await client.CompareModelsAsync(new CompareModelsRequest { A = parse.GetValue(a), B = parse.GetValue(b) }, cancellationToken: ct);
            Output.Show(parse, c, () =>
            {
                var (rows, columns) = (c.SegmentIdsA.Count, c.SegmentIdsB.Count);
                var table = new Table().Border(TableBorder.Rounded)
                    .Title($"{c.Customers:N0} customers: model {c.A} (rows) against model {c.B} (columns)").AddColumn($"{c.A} \\ {c.B}");
                foreach (var id in c.SegmentIdsB)
                {
                    table.AddColumn(new TableColumn(Markup.Escape(id)).RightAligned());
                }
                for (var i = 0; i < rows; i++)
                {
                    table.AddRow([Markup.Escape(c.SegmentIdsA[i]), .. Enumerable.Range(0, columns).Select(j => c.Counts[(i * columns) + j].ToString("N0", CultureInfo.InvariantCulture))]);
                }
                return table;
            });
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Rollback()
    {
        var version = new Argument<long>("version") { Description = "An earlier model; it is published again as a new version" };
        var command = new Command("rollback", "Publish an earlier model again (its centroids, segment ids and names) and wait until it is rolled out") { version };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new ModelService.ModelServiceClient(Common.Channel(parse));
            var r = await client.RollbackAsync(new RollbackRequest { Version = parse.GetValue(version) }, cancellationToken: ct);
            Output.Show(parse, r, () => Output.Pairs(
                ("model", r.ModelVersion.ToString(CultureInfo.InvariantCulture)), ("republishes", parse.GetValue(version).ToString(CultureInfo.InvariantCulture)),
                ("k", r.K.ToString(CultureInfo.InvariantCulture)), ("customers", r.Customers.ToString("N0", CultureInfo.InvariantCulture)),
                ("reassigned", r.Reassigned.ToString("N0", CultureInfo.InvariantCulture)), ("seconds", Output.Number(r.Seconds))));
            return ExitCodes.Ok;
        });
        return command;
    }
}
