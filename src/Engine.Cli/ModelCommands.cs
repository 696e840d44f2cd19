using System.CommandLine;
using Engine.Api.V1;
using Spectre.Console;

namespace Engine.Cli;

/// <summary><c>engine retrain</c>, <c>engine rename</c>, <c>engine drift</c> and <c>engine status</c>.</summary>
public static class ModelCommands
{
    public static Command Retrain()
    {
        var k = new Option<int>("--k") { Description = "Number of segments (0 = the server's default)" };
        var command = new Command("retrain", "Retrain the model now and wait until it is published") { k };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new ModelService.ModelServiceClient(Common.Channel(parse));
            var r = await client.RetrainAsync(new RetrainRequest { K = parse.GetValue(k) }, cancellationToken: ct);
            (string, string)[] rows =
            [
                ("model", r.ModelVersion.ToString()), ("k", r.K.ToString()), ("customers", r.Customers.ToString("N0")),
                ("reassigned", r.Reassigned.ToString("N0")), ("excluded", r.Excluded.ToString("N0")),
                ("inertia", Output.Number(r.Inertia)), ("iterations", r.Iterations.ToString()), ("seconds", Output.Number(r.Seconds)),
            ];
            // With k = 0 the server tried several and kept the best separated (silhouette).
            (string, string)[] tried = r.Candidates.Count > 1
                ? [("k tried", string.Join(", ", r.Candidates.Select(c => $"{c.K}: silhouette {Output.Number(c.Silhouette, 3)}")))]
                : [];
            Output.Show(parse, r, () => Output.Pairs([.. rows, .. tried]));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Rename()
    {
        var segment = new Argument<string>("segment-id") { Description = "A segment of the current model (seg-3)" };
        var name = new Argument<string>("name") { Description = "Its new name; it stays with the segment across retrains that match it" };
        var command = new Command("rename", "Give a segment your own name") { segment, name };
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new ModelService.ModelServiceClient(Common.Channel(parse));
            var s = await client.RenameSegmentAsync(new RenameSegmentRequest { SegmentId = parse.GetValue(segment)!, Name = parse.GetValue(name)! }, cancellationToken: ct);
            Output.Show(parse, s, () => Output.Pairs(("segment", s.SegmentId), ("name", s.Name), ("customers", s.Size.ToString("N0"))));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Drift()
    {
        var command = new Command("drift", "How far the population has moved from the model's training baseline (PSI per feature)");
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new ModelService.ModelServiceClient(Common.Channel(parse));
            var d = await client.GetDriftAsync(new GetDriftRequest(), cancellationToken: ct);
            Output.Show(parse, d, () =>
            {
                var table = new Table().Border(TableBorder.Rounded)
                    .Title($"model {d.ModelVersion}, {d.Customers:N0} customers: {(d.Drifted ? "[red]drifted[/]" : "[green]stable[/]")}")
                    .AddColumn("feature").AddColumn(new TableColumn("PSI").RightAligned());
                foreach (var (feature, psi) in d.FeaturePsi.OrderByDescending(p => p.Value).Append(new("segment sizes", d.SegmentPsi)))
                {
                    var value = Output.Number(psi, 3);
                    table.AddRow(new Text(feature), new Markup(psi > d.Threshold ? $"[red]{value}[/]" : value));
                }
                table.Caption($"threshold {Output.Number(d.Threshold, 2)}");
                return table;
            });
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Status()
    {
        var command = new Command("status", "The server: version, clock, storage, silos, model and log head");
        Common.SetAction(command, async (parse, ct) =>
        {
            var client = new AdminService.AdminServiceClient(Common.Channel(parse));
            var i = await client.GetServerInfoAsync(new GetServerInfoRequest(), cancellationToken: ct);
            Output.Show(parse, i, () => Output.Pairs(
                ("server", $"{parse.GetValue(Common.Server)} (version {i.Version})"), ("clock", $"{i.Clock}, now {Output.When(i.Now)}"),
                ("storage", i.Storage), ("silos", string.Join(", ", i.Silos)), ("shards", i.Shards.ToString()),
                ("model", i.ModelVersion == 0 ? "none yet" : i.ModelVersion.ToString()), ("log head", i.LogHead.ToString("N0"))));
            return ExitCodes.Ok;
        });
        return command;
    }
}
