using System.CommandLine;
using Engine.Cli;

// `engine`: the client-side tool. Every command talks to a running server over gRPC (default http://localhost:5000).
var root = new RootCommand("Engine: real-time customer segmentation. Client commands for a running server.");
root.Options.Add(Common.Server);
root.Options.Add(Common.Verbose);
root.Subcommands.Add(ImportCommand.Create());
root.Subcommands.Add(ExportCommand.Create());
root.Subcommands.Add(VerifyCommand.Create());
root.Subcommands.Add(LookupCommands.Customer());
root.Subcommands.Add(LookupCommands.Segments());
root.Subcommands.Add(LookupCommands.Retrain());
return await root.Parse(args).InvokeAsync();
