using Engine.Bench;

// `engine-bench`: the benchmarks, kept out of the `engine` tool so that a client install carries no server, ML.NET or
// HdrHistogram. Each scenario prints one JSON object (docs/benchmarks.md).
return await BenchCommand.Create().Parse(args).InvokeAsync();
