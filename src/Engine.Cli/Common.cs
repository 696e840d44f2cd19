using System.CommandLine;
using System.Text.Json;
using Grpc.Net.Client;

namespace Engine.Cli;

/// <summary>Options and output shared by the commands.</summary>
public static class Common
{
    public static readonly Option<string> Server = new("--server")
    {
        Description = "gRPC address of an Engine server",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ENGINE_SERVER") ?? "http://localhost:5000",
        Recursive = true,
    };

    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "On an error, print the stack trace too",
        Recursive = true,
    };

    /// <summary>Sets a command's action, its failures reported as one line with an exit code (<see cref="Failures"/>).</summary>
    public static void SetAction(Command command, Func<ParseResult, CancellationToken, Task<int>> action) =>
        command.SetAction((parse, ct) => Failures.RunAsync(parse.GetValue(Verbose), () => action(parse, ct)));

    /// <summary>
    /// A channel to <c>--server</c>: with <c>ENGINE_API_KEY</c> set, every call carries <c>authorization: Bearer KEY</c>;
    /// with <c>ENGINE_CA_CERT</c> (a PEM file) an https server's certificate may also chain to that CA (or be that
    /// self-signed certificate). docs/security.md.
    /// </summary>
    public static GrpcChannel Channel(ParseResult parse) => GrpcChannel.ForAddress(parse.GetValue(Server)!, new GrpcChannelOptions
    {
        HttpHandler = ServerAccess.Handler(Environment.GetEnvironmentVariable("ENGINE_API_KEY"), Environment.GetEnvironmentVariable("ENGINE_CA_CERT")),
        DisposeHttpClient = true,
    });

    // Relaxed escaping: a reason reads 'n/a', not \u0027n/a\u0027. The output is JSON for terminals and pipes, never HTML.
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void PrintJson<T>(T value) => Console.WriteLine(JsonSerializer.Serialize(value, Indented));
}
