using Engine.Api.V1;

namespace Engine.ProcessTests;

/// <summary>
/// The client recipes of docs/clients.md, run as written against a real server: C# with the Engine.Client assembly,
/// Python with grpcio (stubs generated from protos/ by grpcio-tools) and Node with @grpc/grpc-js (protos loaded at run
/// time).
/// </summary>
[Trait("Category", "Process")]
public sealed class ClientRecipeTests
{
    private const string Python = "/usr/bin/python3";

    /// <summary>Each recipe runs against a server with an API key (docs/security.md), passed as ENGINE_API_KEY.</summary>
    private static readonly string Key = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    private static Dictionary<string, string?> Settings() => new()
    {
        ["Engine:Clock"] = "wall", ["Engine:ListenAddress"] = "loopback", ["Engine:Auth:Keys:0:Name"] = "recipe",
        ["Engine:Auth:Keys:0:Sha256"] = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Key))).ToLowerInvariant(),
        ["Engine:Auth:Keys:0:Roles"] = "ingest,read",
    };

    private static readonly Grpc.Core.Metadata Bearer = new() { { "authorization", $"Bearer {Key}" } };

    [Fact]
    public async Task The_csharp_recipe_ingests_and_looks_up_a_customer()
    {
        await using var server = await new EngineServer(settings: Settings()).StartAsync();
        var dll = Repository.BuildOutput("docs/clients/csharp", "EngineClientExample.dll");
        var run = await Tool.RunAsync("dotnet", [dll, server.GrpcAddress, "cs-customer"], environment: new Dictionary<string, string> { ["ENGINE_API_KEY"] = Key });
        Assert.True(run.ExitCode == 0, run.All);
        Assert.Equal(
            "ingest: 1 accepted, 0 duplicates\ncustomer: cs-customer in unassigned, frequency 1, monetary 42.5\nsegments: unassigned unassigned (1)\n",
            run.Out.ReplaceLineEndings("\n"));
    }

    [SkippableFact]
    public async Task The_python_recipe_ingests_and_looks_up_a_customer()
    {
        await Tool.Require("python3-grpcio and python3-grpc-tools",
            async () => File.Exists(Python) && (await Tool.RunAsync(Python, ["-c", "import grpc, grpc_tools"])).ExitCode == 0,
            () => Tool.RunAsync("sh", ["-c", "apt-get install -y -qq python3-grpcio python3-grpc-tools || (apt-get update -qq && apt-get install -y -qq python3-grpcio python3-grpc-tools)"],
                environment: new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" }));
        await using var server = await new EngineServer(settings: Settings()).StartAsync();
        var gen = TempDirectory.Create();
        var protoc = await Tool.RunAsync(Python, ["-m", "grpc_tools.protoc", "-I", Repository.PathOf("protos"), $"--python_out={gen}", $"--grpc_python_out={gen}",
            .. Directory.GetFiles(Repository.PathOf("protos", "engine", "v1"), "*.proto"), .. Directory.GetFiles(Repository.PathOf("protos", "google", "api"), "*.proto")]);
        Assert.True(protoc.ExitCode == 0, protoc.All);

        var run = await Tool.RunAsync(Python, [Repository.PathOf("docs", "clients", "python", "engine_client.py"), $"127.0.0.1:{server.Settings["Engine:GrpcPort"]}", "py-customer"],
            environment: new Dictionary<string, string> { ["PYTHONPATH"] = gen, ["ENGINE_API_KEY"] = Key });
        Assert.True(run.ExitCode == 0, run.All);
        Assert.Contains("ingest: 1 accepted, 0 duplicates", run.Out);
        Assert.Contains("\"customerId\": \"py-customer\"", run.Out);
        Assert.Contains("segments: unassigned unassigned (1)", run.Out);
        Assert.Equal(42.5, (await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "py-customer" }, Bearer)).Rfm.Monetary);
    }

    [SkippableFact]
    public async Task The_node_recipe_ingests_and_looks_up_a_customer()
    {
        Skip.If((await Tool.RunAsync("sh", ["-c", "command -v node npm"])).ExitCode != 0 && Environment.GetEnvironmentVariable("CI") != "true", "node and npm are not installed");
        // The packages in a folder of their own, kept between runs (npm install is a no-op once they are there).
        var modules = Path.Combine(Path.GetTempPath(), "engine-node-client");
        Directory.CreateDirectory(modules);
        await Tool.Require("@grpc/grpc-js and @grpc/proto-loader",
            () => Task.FromResult(Directory.Exists(Path.Combine(modules, "node_modules", "@grpc", "grpc-js"))
                && Directory.Exists(Path.Combine(modules, "node_modules", "@grpc", "proto-loader"))),
            () => Tool.RunAsync("npm", ["install", "--no-audit", "--no-fund", "--silent", "@grpc/grpc-js@1", "@grpc/proto-loader@0.8"], workingDirectory: modules));
        await using var server = await new EngineServer(settings: Settings()).StartAsync();

        var run = await Tool.RunAsync("node", [Repository.PathOf("docs", "clients", "node", "engine-client.js"), $"127.0.0.1:{server.Settings["Engine:GrpcPort"]}", "node-customer"],
            environment: new Dictionary<string, string> { ["NODE_PATH"] = Path.Combine(modules, "node_modules"), ["ENGINE_API_KEY"] = Key });
        Assert.True(run.ExitCode == 0, run.All);
        Assert.Contains("ingest: 1 accepted, 0 duplicates", run.Out);
        Assert.Contains("\"customerId\":\"node-customer\"", run.Out);
        Assert.Equal(42.5, (await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "node-customer" }, Bearer)).Rfm.Monetary);
    }
}
