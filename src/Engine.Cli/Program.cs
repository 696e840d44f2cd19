using System.CommandLine;
using Engine.Cli;

// `engine`: the client-side tool. Every command talks to a running server over gRPC (default http://localhost:5000).
// Tables on a terminal, JSON when piped (--output); failures are one line on stderr with an exit code (docs/cli.md).
var root = new RootCommand("Engine: real-time customer segmentation. Client commands for a running server.");
root.Options.Add(Common.Server);
root.Options.Add(Common.Verbose);
root.Options.Add(Output.Format);
Command[] commands =
[
    ModelCommands.Status(),
    CustomerCommands.Customer(), CustomerCommands.History(),
    SegmentCommands.Segments(), SegmentCommands.Matrix(), SegmentCommands.Forecast(), AnalyticsCommands.Cohorts(),
    ModelCommands.Retrain(), ModelCommands.Rename(), ModelCommands.Drift(), ModelRegistryCommands.Models(), ModelRegistryCommands.Rollback(),
    AlertCommands.Watch(), AlertCommands.Webhook(),
    ImportCommand.Create(), ExportCommand.Create(), VerifyCommand.Create(), SimulateCommand.Create(), QuarantineCommands.Create(), AdminCommands.Create(),
];
foreach (var command in commands)
{
    root.Subcommands.Add(command);
}
var parse = root.Parse(args);
var code = await parse.InvokeAsync();
// A usage error (an unknown option, a missing argument) prints the problem and help; its exit code is 2 (docs/cli.md).
return parse.Errors.Count > 0 ? ExitCodes.Usage : code;
