using System.CommandLine;

namespace Engine.Bench;

/// <summary>`engine-bench …`: benchmarks that print one JSON object each.</summary>
public static class BenchCommand
{
    public static RootCommand Create()
    {
        var bench = new RootCommand("engine-bench: Engine's benchmarks; each prints one JSON object. Speed and memory targets are checked here, never by timed tests.");
        bench.Subcommands.Add(KMeansBench.Create());
        bench.Subcommands.Add(GenerateMatrix());
        bench.Subcommands.Add(AlertBench.Create());
        bench.Subcommands.Add(IngestBench.Create());
        bench.Subcommands.Add(LookupBench.Create());
        bench.Subcommands.Add(MemoryBench.Create());
        bench.Subcommands.Add(BaselineServer.Create());
        return bench;
    }

    private static Command GenerateMatrix()
    {
        var output = new Option<FileInfo>("--out") { Required = true };
        var rows = new Option<int>("--rows") { DefaultValueFactory = _ => 1_000_000 };
        var cols = new Option<int>("--cols") { DefaultValueFactory = _ => 10 };
        var components = new Option<int>("--components") { DefaultValueFactory = _ => 12 };
        var spread = new Option<double>("--spread") { Description = "Side of the cube the component means are drawn from (unit variances)", DefaultValueFactory = _ => 8 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 7 };
        var command = new Command("gen-matrix", "Write a matrix drawn from an overlapping Gaussian mixture") { output, rows, cols, components, spread, seed };
        command.SetAction(parse =>
        {
            var data = MatrixFile.GaussianMixture(parse.GetValue(rows), parse.GetValue(cols), parse.GetValue(components), parse.GetValue(spread), parse.GetValue(seed));
            MatrixFile.Write(parse.GetValue(output)!.FullName, data, parse.GetValue(rows), parse.GetValue(cols));
            Json.Print(new { file = parse.GetValue(output)!.FullName, rows = parse.GetValue(rows), cols = parse.GetValue(cols), components = parse.GetValue(components) });
        });
        return command;
    }
}
