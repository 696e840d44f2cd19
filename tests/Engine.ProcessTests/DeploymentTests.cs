using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Engine.Server.Hosting;

namespace Engine.ProcessTests;

/// <summary>
/// The ways docs/operations.md ("Deploying") runs Engine, checked as far as a machine without a container runtime or a
/// cluster can: the container image's settings as MSBuild evaluates them, the compose file through docker-compose's own
/// parser, the Kubernetes manifests against the Kubernetes schemas, and a self-contained publish that starts and answers
/// its probes. The files must also agree with each other: one image name and tag, one user, one secret, one set of ports.
/// The publish compiles the server for a minute on a cold machine: it takes turns with the PostgreSQL cluster tests,
/// whose silos would otherwise miss membership probes on two cores.
/// </summary>
[Trait("Category", "Process")]
[Collection(ServerProcesses.Name)]
public sealed class DeploymentTests
{
    private const string Python = "/usr/bin/python3";

    private static readonly Lazy<Task<JsonElement>> Container = new(ContainerSettingsAsync);

    /// <summary>The image settings the SDK computes for PublishContainer (no base image is pulled to compute them).</summary>
    private static async Task<JsonElement> ContainerSettingsAsync()
    {
        var run = await Tool.RunAsync("dotnet", ["msbuild", Repository.PathOf("src", "Engine.Server", "Engine.Server.csproj"), "-t:ComputeContainerConfig",
            "-getProperty:ContainerRepository", "-getProperty:ContainerBaseImage", "-getProperty:ContainerUser", "-getProperty:ContainerImageTags",
            "-getProperty:ContainerWorkingDirectory", "-getItem:ContainerPort", "-getItem:ContainerEnvironmentVariable"]);
        Assert.True(run.ExitCode == 0, run.All);
        return JsonDocument.Parse(run.Out).RootElement;
    }

    private static string Property(JsonElement settings, string name) => settings.GetProperty("Properties").GetProperty(name).GetString()!;

    private static Dictionary<string, JsonElement> Items(JsonElement settings, string name) =>
        settings.GetProperty("Items").GetProperty(name).EnumerateArray().ToDictionary(i => i.GetProperty("Identity").GetString()!);

    private static string Image => $"engine:{Engine.Grains.EngineMetrics.Version}";

    /// <summary>Logging that keeps the start-up line in the server's last lines of output (Orleans' option dump off).</summary>
    private static readonly Dictionary<string, string?> StartupLineOnly = new()
    {
        ["Logging:LogLevel:Default"] = "Warning",
        ["Logging:LogLevel:Orleans.Runtime.Silo"] = "Warning",
        [$"Logging:LogLevel:{typeof(StartupLog).FullName}"] = "Information",
    };

    [Fact]
    public async Task The_container_image_runs_as_a_non_root_user_with_the_documented_ports_and_data_directory()
    {
        var settings = await Container.Value;
        Assert.Equal("engine", Property(settings, "ContainerRepository"));
        Assert.Equal("mcr.microsoft.com/dotnet/aspnet:10.0", Property(settings, "ContainerBaseImage"));
        Assert.Equal($"{Engine.Grains.EngineMetrics.Version};latest", Property(settings, "ContainerImageTags"));
        Assert.Equal("1654", Property(settings, "ContainerUser"));
        // The ports are the server's own defaults: gRPC, HTTP, silo, gateway.
        var ports = Items(settings, "ContainerPort");
        var defaults = new Engine.Grains.EngineOptions();
        Assert.Equal([defaults.GrpcPort, defaults.HttpPort, defaults.SiloPort, defaults.GatewayPort], ports.Keys.Select(int.Parse).Order());
        Assert.All(ports.Values, p => Assert.Equal("tcp", p.GetProperty("Type").GetString()));
        Assert.Equal("/home/app/data", Items(settings, "ContainerEnvironmentVariable")["Engine__DataDirectory"].GetProperty("Value").GetString());
        var docs = await File.ReadAllTextAsync(Repository.PathOf("docs", "operations.md"));
        Assert.Contains("-t:PublishContainer", docs);
        Assert.Contains($"`{Image}`", docs);
        Assert.Contains("/home/app/data", docs);
    }

    [SkippableFact]
    public async Task The_compose_file_parses_and_runs_three_silos_on_postgres_each_with_a_health_check()
    {
        await Tool.Require("docker-compose",
            async () => (await Tool.RunAsync("sh", ["-c", "command -v docker-compose && test -x " + Python])).ExitCode == 0,
            () => Tool.RunAsync("sh", ["-c", "apt-get install -y -qq docker-compose || (apt-get update -qq && apt-get install -y -qq docker-compose)"],
                environment: new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" }));
        var file = Repository.PathOf("deploy", "compose", "docker-compose.yml");
        // The silos' API key is the user's: without its hash compose refuses to start, naming where to get one.
        var keyless = await Tool.RunAsync("docker-compose", ["-f", file, "config"], environment: new Dictionary<string, string> { ["ENGINE_API_KEY_SHA256"] = "" });
        Assert.NotEqual(0, keyless.ExitCode);
        Assert.Contains("engine admin key create", keyless.All);
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("compose-test-key")));
        var config = await Tool.RunAsync("docker-compose", ["-f", file, "config"], environment: new Dictionary<string, string> { ["ENGINE_API_KEY_SHA256"] = sha256 });
        Assert.True(config.ExitCode == 0, config.All);
        // docker-compose's normalised file (anchors and variables resolved) as JSON, through the YAML library it uses.
        var normalised = Path.Combine(TempDirectory.Create(), "compose.yml");
        await File.WriteAllTextAsync(normalised, config.Out);
        var json = await Tool.RunAsync(Python, ["-c", "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)", normalised]);
        Assert.True(json.ExitCode == 0, json.All);
        var services = JsonDocument.Parse(json.Out).RootElement.GetProperty("services");

        Assert.Equal(["engine-0", "engine-1", "engine-2", "postgres"], services.EnumerateObject().Select(s => s.Name).Order());
        var postgres = services.GetProperty("postgres");
        Assert.StartsWith("pg_isready", postgres.GetProperty("healthcheck").GetProperty("test")[1].GetString());
        Assert.Contains(postgres.GetProperty("volumes").EnumerateArray(), v => v.GetString()!.StartsWith("pgdata:/var/lib/postgresql/data", StringComparison.Ordinal));
        var advertised = new HashSet<string>();
        foreach (var name in new[] { "engine-0", "engine-1", "engine-2" })
        {
            var silo = services.GetProperty(name);
            Assert.Equal(Image, silo.GetProperty("image").GetString());
            Assert.Equal("service_healthy", silo.GetProperty("depends_on").GetProperty("postgres").GetProperty("condition").GetString());
            var env = silo.GetProperty("environment");
            Assert.Equal("postgres", env.GetProperty("Engine__Storage").GetString());
            Assert.StartsWith("Host=postgres;", env.GetProperty("Engine__ConnectionString").GetString());
            Assert.Equal((sha256, "ingest,read,admin"), (env.GetProperty("Engine__Auth__Keys__0__Sha256").GetString(), env.GetProperty("Engine__Auth__Keys__0__Roles").GetString()));
            // Orleans advertises an IP address: each silo's must be its own fixed address on the network.
            var address = env.GetProperty("Engine__AdvertisedAddress").GetString()!;
            Assert.Equal(address, silo.GetProperty("networks").GetProperty("engine").GetProperty("ipv4_address").GetString());
            Assert.True(advertised.Add(address), $"{name} advertises {address} like another silo");
            Assert.Contains(silo.GetProperty("ports").EnumerateArray(), p => p.GetProperty("target").GetInt32() == 5000);
        }

        // The silos' health check, run as the container runs it, against a real server on another port with the
        // silos' key settings (so, as in the container, listening on every interface, every RPC needing the key).
        var check = services.GetProperty("engine-0").GetProperty("healthcheck").GetProperty("test").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal("CMD", check[0]);
        var keySettings = services.GetProperty("engine-0").GetProperty("environment").EnumerateObject()
            .Where(e => e.Name.StartsWith("Engine__Auth__", StringComparison.Ordinal)).ToDictionary(e => e.Name.Replace("__", ":"), e => e.Value.GetString());
        Assert.Equal(3, keySettings.Count);
        await using var server = await new EngineServer(settings: keySettings).StartAsync();
        var port = server.Settings["Engine:HttpPort"]!;
        var healthy = await Tool.RunAsync(check[1], check[2..].Select(a => a.Replace("5001", port)));
        Assert.True(healthy.ExitCode == 0, $"the compose health check failed against a healthy server:\n{healthy.All}");
        await server.StopAsync();
        var down = await Tool.RunAsync(check[1], check[2..].Select(a => a.Replace("5001", port)));
        Assert.NotEqual(0, down.ExitCode);
    }

    [SkippableFact]
    public async Task The_kubernetes_manifests_validate_against_the_kubernetes_schemas_and_agree_with_each_other()
    {
        Skip.If((await Tool.RunAsync("sh", ["-c", "command -v node npm"])).ExitCode != 0 && Environment.GetEnvironmentVariable("CI") != "true", "node and npm are not installed");
        // The packages in a folder of their own, kept between runs (npm install is a no-op once they are there).
        var modules = Path.Combine(Path.GetTempPath(), "engine-k8s-models");
        Directory.CreateDirectory(modules);
        await Tool.Require("kubernetes-models and yaml",
            () => Task.FromResult(Directory.Exists(Path.Combine(modules, "node_modules", "kubernetes-models"))
                && Directory.Exists(Path.Combine(modules, "node_modules", "yaml"))),
            () => Tool.RunAsync("npm", ["install", "--no-audit", "--no-fund", "--silent", "kubernetes-models@4", "yaml@2"], workingDirectory: modules));
        var run = await Tool.RunAsync("node", [Repository.PathOf("tests", "Engine.ProcessTests", "Deployment", "validate-k8s.js"), Repository.PathOf("deploy", "k8s")],
            environment: new Dictionary<string, string> { ["NODE_PATH"] = Path.Combine(modules, "node_modules") });
        Assert.True(run.ExitCode == 0, run.All);
        var all = JsonDocument.Parse(run.Out).RootElement.EnumerateArray().ToList();
        JsonElement One(string kind, Func<JsonElement, bool>? where = null) => Assert.Single(all,
            o => o.GetProperty("object").GetProperty("kind").GetString() == kind && (where?.Invoke(o.GetProperty("object")) ?? true)).GetProperty("object");
        static string Name(JsonElement o) => o.GetProperty("metadata").GetProperty("name").GetString()!;

        var set = One("StatefulSet");
        var pod = set.GetProperty("spec").GetProperty("template");
        var podLabels = pod.GetProperty("metadata").GetProperty("labels");
        var spec = pod.GetProperty("spec");
        var container = Assert.Single(spec.GetProperty("containers").EnumerateArray());
        Assert.Equal(Image, container.GetProperty("image").GetString());
        Assert.Equal(Property(await Container.Value, "ContainerUser"), spec.GetProperty("securityContext").GetProperty("runAsUser").GetInt32().ToString());

        // The headless Service governs the StatefulSet and selects its pods.
        var headless = One("Service", s => s.GetProperty("spec").TryGetProperty("clusterIP", out var ip) && ip.GetString() == "None");
        Assert.Equal(Name(headless), set.GetProperty("spec").GetProperty("serviceName").GetString());
        foreach (var selecting in new[] { headless.GetProperty("spec").GetProperty("selector"), One("PodDisruptionBudget").GetProperty("spec").GetProperty("selector").GetProperty("matchLabels") })
        {
            Assert.All(selecting.EnumerateObject(), l => Assert.Equal(l.Value.GetString(), podLabels.GetProperty(l.Name).GetString()));
        }

        // Probes: readiness is the gRPC health service on the gRPC port; liveness is /livez, never /healthz (a silo
        // recovering its log is alive but not ready, and must not be restarted for it).
        var ports = container.GetProperty("ports").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!, p => p.GetProperty("containerPort").GetInt32());
        Assert.Equal(ports["grpc"], container.GetProperty("readinessProbe").GetProperty("grpc").GetProperty("port").GetInt32());
        foreach (var probe in new[] { "livenessProbe", "startupProbe" })
        {
            var get = container.GetProperty(probe).GetProperty("httpGet");
            Assert.Equal("/livez", get.GetProperty("path").GetString());
            Assert.Equal(5001, ports[get.GetProperty("port").GetString()!]);
        }

        // What Orleans' Kubernetes hosting and Engine read from the environment.
        var env = container.GetProperty("env").EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!);
        string? Field(string name) => env[name].TryGetProperty("valueFrom", out var from) ? from.GetProperty("fieldRef").GetProperty("fieldPath").GetString() : null;
        Assert.Equal("metadata.name", Field("POD_NAME"));
        Assert.Equal("metadata.namespace", Field("POD_NAMESPACE"));
        Assert.Equal("status.podIP", Field("POD_IP"));
        Assert.Equal("status.podIP", Field("Engine__AdvertisedAddress"));
        Assert.Equal("metadata.labels['orleans/clusterId']", Field("Engine__ClusterId"));
        Assert.True(podLabels.TryGetProperty("orleans/clusterId", out _));
        Assert.Equal("engine", podLabels.GetProperty("orleans/serviceId").GetString());
        Assert.Equal("postgres", env["Engine__Storage"].GetProperty("value").GetString());
        Assert.Equal("true", env["Engine__Kubernetes"].GetProperty("value").GetString());
        // The PostgreSQL connection string and the API key come from Secrets the user provides (examples beside the
        // manifests, never listed: the kustomization must not overwrite them).
        foreach (var variable in new[] { "Engine__ConnectionString", "Engine__Auth__Keys__0__Name", "Engine__Auth__Keys__0__Sha256", "Engine__Auth__Keys__0__Roles" })
        {
            var secretRef = env[variable].GetProperty("valueFrom").GetProperty("secretKeyRef");
            var secretName = secretRef.GetProperty("name").GetString();
            var listed = Assert.Single(all, o => o.GetProperty("object").GetProperty("kind").GetString() == "Secret" && Name(o.GetProperty("object")) == secretName);
            Assert.False(listed.GetProperty("listed").GetBoolean(), $"the {secretName} secret is the user's: the kustomization must not overwrite it");
            Assert.True(listed.GetProperty("object").GetProperty("stringData").TryGetProperty(secretRef.GetProperty("key").GetString()!, out _), variable);
        }
        var keys = One("Secret", s => Name(s) == "engine-api-keys").GetProperty("stringData");
        Assert.Matches("^[0-9a-f]{64}$", keys.GetProperty("sha256").GetString());

        // Memory: the "250,000" row of the sizing table in docs/operations.md.
        var resources = container.GetProperty("resources");
        Assert.Equal("1Gi", resources.GetProperty("requests").GetProperty("memory").GetString());
        Assert.Equal("2Gi", resources.GetProperty("limits").GetProperty("memory").GetString());

        // RBAC: the pods' service account may read and label pods, and nothing else.
        var account = spec.GetProperty("serviceAccountName").GetString();
        Assert.Equal(account, Name(One("ServiceAccount")));
        var binding = One("RoleBinding");
        Assert.Equal(account, Assert.Single(binding.GetProperty("subjects").EnumerateArray()).GetProperty("name").GetString());
        var role = One("Role");
        Assert.Equal(Name(role), binding.GetProperty("roleRef").GetProperty("name").GetString());
        var rule = Assert.Single(role.GetProperty("rules").EnumerateArray());
        Assert.Equal(["pods"], rule.GetProperty("resources").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(["get", "list", "patch", "watch"], rule.GetProperty("verbs").EnumerateArray().Select(r => r.GetString()).Order());
    }

    [Fact]
    public async Task A_started_server_answers_livez_and_healthz_and_names_its_settings_in_one_start_up_line()
    {
        var config = new EngineServer(settings: new(StartupLineOnly));
        await using var server = ServerProcess.ForEngine(config.Settings);
        await server.StartAsync();
        using var http = new HttpClient();
        foreach (var path in new[] { "/livez", "/healthz" })
        {
            var answer = await http.GetAsync($"{config.HttpAddress}{path}");
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.Equal("ok", await answer.Content.ReadAsStringAsync());
        }
        // Only on the HTTP port, as /healthz: the gRPC port (HTTP/2) does not know it.
        using var h2c = new HttpRequestMessage(HttpMethod.Get, $"{config.GrpcAddress}/livez") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(h2c)).StatusCode);
        var line = Assert.Single(server.Output.Split('\n'), l => l.Contains(" starting: ", StringComparison.Ordinal));
        Assert.Contains($"Engine {Engine.Grains.EngineMetrics.Version} starting: event-time clock, sqlite storage, data directory {Path.GetFullPath(config.DataDirectory)}, "
            + $"gRPC port {config.Settings["Engine:GrpcPort"]}, HTTP port {config.Settings["Engine:HttpPort"]}, silo port {config.Settings["Engine:SiloPort"]}, "
            + $"gateway port {config.Settings["Engine:GatewayPort"]}, Kubernetes hosting off", line);
    }

    /// <summary>Starts a server process that must fail; returns its one line about why.</summary>
    private static async Task<string> RefusedAsync(Dictionary<string, string?> settings, params (string, string)[] environment)
    {
        var config = new EngineServer(settings: settings);
        await using var server = ServerProcess.ForEngine(config.Settings, environment);
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(server.StartAsync);
        return Assert.Single(failure.Message.Split('\n'), line => line.StartsWith("engine: start-up failed: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Kubernetes_hosting_is_for_postgres_clusters_and_says_what_a_pod_must_provide()
    {
        Assert.Contains("Engine:Kubernetes: needs Engine:Storage=postgres", await RefusedAsync(new() { ["Engine:Kubernetes"] = "true" }));
        // On postgres the hosting is in: outside a pod it stops the start naming what is missing, before any database
        // is reached (the connection string points nowhere).
        var postgres = new Dictionary<string, string?>
        {
            ["Engine:Kubernetes"] = "true", ["Engine:Storage"] = "postgres", ["Engine:ConnectionString"] = "Host=127.0.0.1;Port=1;Username=engine;Database=engine",
        };
        Assert.Contains("POD_NAMESPACE", await RefusedAsync(postgres, ("POD_NAMESPACE", "")));
        Assert.Contains("KUBERNETES_SERVICE_HOST", await RefusedAsync(postgres, ("POD_NAMESPACE", "engine"), ("KUBERNETES_SERVICE_HOST", "")));
    }

    [Fact]
    public async Task A_self_contained_publish_starts_and_answers_healthz_and_livez()
    {
        // Its own artifacts folder (kept between runs, one per checkout): the publish neither touches the tests' build
        // output nor restores the working tree's projects for another runtime.
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(Repository.Root)))[..12];
        var artifacts = Path.Combine(Path.GetTempPath(), "engine-publish", key);
        var output = Path.Combine(artifacts, "out");
        var publish = await Tool.RunAsync("dotnet", ["publish", Repository.PathOf("src", "Engine.Server"), "-c", "Release", "-r", "linux-x64", "--self-contained",
            "--artifacts-path", artifacts, "-o", output, "-nologo", "-v:q",
            // No compiler or MSBuild server left running after it, holding the test's pipes and the machine's memory.
            "--disable-build-servers"], timeoutSeconds: 600);
        Assert.True(publish.ExitCode == 0, publish.All);
        var executable = Path.Combine(output, "Engine.Server");
        Assert.True(File.Exists(executable), $"{executable} was not published");
        Assert.True(File.Exists(Path.Combine(output, "libcoreclr.so")), "the publish does not carry its runtime");

        var data = TempDirectory.Create();
        var settings = new Dictionary<string, string?>
        {
            ["Engine:DataDirectory"] = data,
            ["Engine:GrpcPort"] = FreePorts.Next().ToString(),
            ["Engine:HttpPort"] = FreePorts.Next().ToString(),
            ["Engine:SiloPort"] = FreePorts.Next().ToString(),
            ["Engine:GatewayPort"] = FreePorts.Next().ToString(),
        };
        foreach (var (k, v) in StartupLineOnly)
        {
            settings[k] = v;
        }
        await using var server = new ServerProcess([executable, .. settings.Select(kv => $"--{kv.Key}={kv.Value}")],
            $"http://127.0.0.1:{settings["Engine:HttpPort"]}/healthz",
            // No dotnet on the PATH it needs, and a pod's variable: the embedded mode stays off Kubernetes hosting.
            ("DOTNET_ROOT", "/nonexistent"), ("KUBERNETES_SERVICE_HOST", "127.0.0.1"));
        await server.StartAsync();
        using var http = new HttpClient();
        foreach (var path in new[] { "/healthz", "/livez" })
        {
            var answer = await http.GetAsync($"http://127.0.0.1:{settings["Engine:HttpPort"]}{path}");
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.Equal("ok", await answer.Content.ReadAsStringAsync());
        }
        Assert.Contains($"Engine {Engine.Grains.EngineMetrics.Version} starting: wall clock, sqlite storage, data directory {data}, gRPC port {settings["Engine:GrpcPort"]}, "
            + $"HTTP port {settings["Engine:HttpPort"]}, silo port {settings["Engine:SiloPort"]}, gateway port {settings["Engine:GatewayPort"]}, Kubernetes hosting off", server.Output);
        Assert.Equal(0, await server.TerminateAsync());
    }
}
