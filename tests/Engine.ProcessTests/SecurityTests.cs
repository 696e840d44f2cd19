using System.Net;
using System.Net.Http.Headers;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Engine.Api.V1;
using Engine.Server.Hosting;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;

namespace Engine.ProcessTests;

/// <summary>
/// docs/security.md as a client meets it: API keys and roles on gRPC and REST alike, the audit log of admin actions,
/// loopback only without keys (and the refusal to listen publicly), TLS with a self-signed certificate, and the keys
/// `engine admin key create` makes working as configuration.
/// </summary>
[Trait("Category", "Process")]
public sealed class SecurityTests
{
    private static readonly string AdminKey = NewKey(), ReaderKey = NewKey(), IngesterKey = NewKey();

    private static string NewKey() => Convert.ToHexString(RandomNumberGenerator.GetBytes(32));

    private static string Sha256Of(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant();

    /// <summary>Three keys, one role each: roles do not imply one another.</summary>
    private static Dictionary<string, string?> Keys() => new()
    {
        ["Engine:Auth:Keys:0:Name"] = "ops", ["Engine:Auth:Keys:0:Sha256"] = Sha256Of(AdminKey), ["Engine:Auth:Keys:0:Roles"] = "admin",
        ["Engine:Auth:Keys:1:Name"] = "reader", ["Engine:Auth:Keys:1:Sha256"] = Sha256Of(ReaderKey), ["Engine:Auth:Keys:1:Roles"] = "read",
        ["Engine:Auth:Keys:2:Name"] = "feeder", ["Engine:Auth:Keys:2:Sha256"] = Sha256Of(IngesterKey), ["Engine:Auth:Keys:2:Roles"] = "ingest",
        ["Engine:ListenAddress"] = "loopback",
    };

    private static Metadata Bearer(string key) => new() { { "authorization", $"Bearer {key}" } };

    private static async Task<StatusCode> CodeOf(Func<Task> call)
    {
        try
        {
            await call();
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    private static async Task<HttpStatusCode> RestAsync(HttpClient http, HttpMethod method, string path, string? key, IMessage? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        if (body is not null)
        {
            request.Content = new StringContent(JsonFormatter.Default.Format(body), Encoding.UTF8, "application/json");
        }
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task Each_key_and_role_rule_holds_over_grpc_and_rest_and_admin_actions_are_audited_with_the_key_name()
    {
        await using var server = await new EngineServer(settings: Keys()).StartAsync();
        var data = Synthetic.Generate(customers: 200, seed: 3);
        var ingest = new IngestRequest();
        ingest.Events.AddRange(data.Events);

        // gRPC: no key and an unknown key are UNAUTHENTICATED; a key without the method's role is PERMISSION_DENIED.
        Assert.Equal(StatusCode.Unauthenticated, await CodeOf(() => server.Segments.ListSegmentsAsync(new()).ResponseAsync));
        Assert.Equal(StatusCode.Unauthenticated, await CodeOf(() => server.Segments.ListSegmentsAsync(new(), Bearer(NewKey())).ResponseAsync));
        Assert.Equal(StatusCode.Unauthenticated, await CodeOf(() => server.Ingest.IngestAsync(ingest, new Metadata { { "authorization", AdminKey } }).ResponseAsync));
        Assert.Equal(StatusCode.PermissionDenied, await CodeOf(() => server.Ingest.IngestAsync(ingest, Bearer(ReaderKey)).ResponseAsync));
        Assert.Equal(StatusCode.OK, await CodeOf(() => server.Ingest.IngestAsync(ingest, Bearer(IngesterKey)).ResponseAsync));
        Assert.Equal(StatusCode.PermissionDenied, await CodeOf(() => server.Segments.ListSegmentsAsync(new(), Bearer(IngesterKey)).ResponseAsync));
        Assert.Equal(StatusCode.PermissionDenied, await CodeOf(() => server.Models.RetrainAsync(new() { K = 3 }, Bearer(ReaderKey)).ResponseAsync));
        Assert.Equal(StatusCode.PermissionDenied, await CodeOf(() => server.Segments.ListSegmentsAsync(new(), Bearer(AdminKey)).ResponseAsync));
        var retrain = await server.Models.RetrainAsync(new() { K = 3 }, Bearer(AdminKey));
        Assert.Equal(200, (await server.Segments.ListSegmentsAsync(new(), Bearer(ReaderKey))).Segments.Sum(s => s.Size));
        Assert.Equal(StatusCode.OK, await CodeOf(() => server.Admin.GetServerInfoAsync(new(), Bearer(ReaderKey)).ResponseAsync));

        // Streams too: the subscription needs read, the ingest stream ingest.
        var alerts = new AlertService.AlertServiceClient(server.Channel);
        Assert.Equal(StatusCode.Unauthenticated, await CodeOf(async () =>
        {
            using var call = alerts.SubscribeMigrations(new SubscribeMigrationsRequest());
            await call.ResponseStream.MoveNext();
        }));
        Assert.Equal(StatusCode.PermissionDenied, await CodeOf(async () =>
        {
            using var call = server.Ingest.IngestStream(Bearer(ReaderKey));
            try
            {
                await call.RequestStream.WriteAsync(ingest);
                await call.RequestStream.CompleteAsync();
            }
            catch (RpcException)
            {
                // The server may refuse the call before the request is out: the write then fails as CANCELLED, and the
                // server's own answer is what the response stream reports.
            }
            while (await call.ResponseStream.MoveNext())
            {
            }
        }));
        // Probes need no key.
        var health = new Grpc.Health.V1.Health.HealthClient(server.Channel);
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new())).Status);

        // REST: the same rules as HTTP statuses.
        using var http = new HttpClient { BaseAddress = new Uri(server.HttpAddress) };
        Assert.Equal(HttpStatusCode.Unauthorized, await RestAsync(http, HttpMethod.Get, "/v1/segments", null));
        Assert.Equal(HttpStatusCode.Unauthorized, await RestAsync(http, HttpMethod.Get, "/v1/segments", NewKey()));
        Assert.Equal(HttpStatusCode.Forbidden, await RestAsync(http, HttpMethod.Get, "/v1/segments", IngesterKey));
        Assert.Equal(HttpStatusCode.OK, await RestAsync(http, HttpMethod.Get, "/v1/segments", ReaderKey));
        Assert.Equal(HttpStatusCode.Forbidden, await RestAsync(http, HttpMethod.Post, "/v1/events:ingest", ReaderKey, ingest));
        Assert.Equal(HttpStatusCode.OK, await RestAsync(http, HttpMethod.Post, "/v1/events:ingest", IngesterKey, ingest));
        Assert.Equal(HttpStatusCode.Forbidden, await RestAsync(http, HttpMethod.Post, "/v1/model:retrain", ReaderKey, new RetrainRequest { K = 3 }));
        Assert.Equal(HttpStatusCode.Unauthorized, await RestAsync(http, HttpMethod.Post, "/v1/model:retrain", null, new RetrainRequest { K = 3 }));
        var segment = (await server.Segments.ListSegmentsAsync(new(), Bearer(ReaderKey))).Segments[0].SegmentId;
        Assert.Equal(HttpStatusCode.OK, await RestAsync(http, HttpMethod.Post, $"/v1/segments/{segment}:rename", AdminKey, new RenameSegmentRequest { Name = "Renamed" }));
        foreach (var open in new[] { "/healthz", "/livez", "/metrics", "/openapi/v1.json" })
        {
            Assert.Equal(HttpStatusCode.OK, await RestAsync(http, HttpMethod.Get, open, null));
        }

        // Webhook changes, with a secret that must not reach the audit log.
        var hook = await new AlertService.AlertServiceClient(server.Channel).CreateWebhookAsync(
            new CreateWebhookRequest { Url = "https://hooks.example.com/services/T1/B2/pathtoken", Secret = "s3cret-do-not-log" }, Bearer(AdminKey));
        Assert.Equal(StatusCode.PermissionDenied, await CodeOf(() => alerts.DeleteWebhookAsync(new() { Id = hook.Id }, Bearer(ReaderKey)).ResponseAsync));
        await alerts.DeleteWebhookAsync(new() { Id = hook.Id }, Bearer(AdminKey));

        // The audit log: admin actions and refused admin calls with the key's name, newest first; no unauthenticated
        // call, no read or ingest call, no secret.
        Assert.Equal(StatusCode.PermissionDenied, await CodeOf(() => server.Admin.ListAuditEntriesAsync(new(), Bearer(ReaderKey)).ResponseAsync));
        var entries = (await server.Admin.ListAuditEntriesAsync(new() { PageSize = 100 }, Bearer(AdminKey))).Entries;
        var seen = entries.Select(e => (e.Who, e.Action, e.Target, e.Outcome)).ToList();
        Assert.Equal(
        [
            ("reader", "ListAuditEntries", "", "PERMISSION_DENIED"),
            ("ops", "DeleteWebhook", hook.Id, "OK"),
            ("reader", "DeleteWebhook", hook.Id, "PERMISSION_DENIED"),
            ("ops", "CreateWebhook", hook.Id, "OK"),
            ("ops", "RenameSegment", segment, "OK"),
            ("reader", "Retrain", "", "PERMISSION_DENIED"),
            ("ops", "Retrain", "", "OK"),
            ("reader", "Retrain", "", "PERMISSION_DENIED"),
        ], seen);
        Assert.True(entries.Zip(entries.Skip(1)).All(p => p.First.Id > p.Second.Id && p.First.At >= p.Second.At));
        Assert.Contains("\"k\": 3", entries.Last(e => e.Action == "Retrain" && e.Outcome == "OK").Details);
        var all = string.Join('\n', entries.Select(e => e.ToString()));
        Assert.DoesNotContain("do-not-log", all);
        Assert.DoesNotContain("pathtoken", all);
        Assert.Equal(retrain.ModelVersion, (await server.Models.GetModelAsync(new(), Bearer(ReaderKey))).Version);

        // Paged over REST, newest first: a page of 2, then the next.
        using var page = new HttpRequestMessage(HttpMethod.Get, "/v1/audit?pageSize=2");
        page.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        var first = JsonDocument.Parse(await (await http.SendAsync(page)).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(["ListAuditEntries", "ListAuditEntries"], first.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("action").GetString()));
        var next = await server.Admin.ListAuditEntriesAsync(new() { PageSize = 2, PageToken = first.GetProperty("nextPageToken").GetString() }, Bearer(AdminKey));
        Assert.Equal(["DeleteWebhook", "DeleteWebhook"], next.Entries.Select(e => e.Action));
    }

    /// <summary>The machine's first non-loopback IPv4 address that is up, if it has one.</summary>
    private static IPAddress? NonLoopbackAddress() => NetworkInterface.GetAllNetworkInterfaces()
        .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
        .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(a => a.Address)
        .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));

    private static async Task<bool> ConnectsAsync(IPAddress address, string port)
    {
        using var client = new TcpClient(address.AddressFamily);
        try
        {
            await client.ConnectAsync(address, int.Parse(port)).WaitAsync(TimeSpan.FromSeconds(5));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Without_keys_the_server_listens_on_loopback_only_and_says_so()
    {
        var config = new EngineServer(settings: new()
        {
            // Orleans' option dump off: the line must stay among the process's last lines of output.
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Orleans.Runtime.Silo"] = "Warning",
            ["Logging:LogLevel:Engine.Server.Security.SecurityPlan"] = "Information",
        });
        await using var server = ServerProcess.ForEngine(config.Settings);
        await server.StartAsync();
        Assert.Single(server.Output.Split('\n'), l => l.Contains("No API keys configured: listening on loopback only (127.0.0.1, ::1)", StringComparison.Ordinal));
        foreach (var port in new[] { config.Settings["Engine:GrpcPort"]!, config.Settings["Engine:HttpPort"]! })
        {
            Assert.True(await ConnectsAsync(IPAddress.Loopback, port));
            if (NonLoopbackAddress() is { } other)
            {
                Assert.False(await ConnectsAsync(other, port), $"port {port} answers on {other}");
            }
        }
    }

    [Fact]
    public async Task Without_keys_a_public_listen_address_refuses_to_start_unless_anonymous_access_is_allowed()
    {
        var config = new EngineServer(settings: new() { ["Engine:ListenAddress"] = "0.0.0.0" });
        await using (var refused = ServerProcess.ForEngine(config.Settings))
        {
            var failure = await Assert.ThrowsAsync<InvalidOperationException>(refused.StartAsync);
            Assert.Contains("server exited with code 1:", failure.Message);
            var line = Assert.Single(failure.Message.Split('\n'), l => l.StartsWith("engine: start-up failed: ", StringComparison.Ordinal));
            Assert.Contains("Engine:ListenAddress: 0.0.0.0 listens beyond loopback, and no API keys are configured", line);
            Assert.Contains("Engine:Auth:AllowAnonymous=true", line);
        }

        await using var server = await new EngineServer(settings: new() { ["Engine:ListenAddress"] = "any", ["Engine:Auth:AllowAnonymous"] = "true" }).StartAsync();
        Assert.Equal(StatusCode.OK, await CodeOf(() => server.Admin.GetServerInfoAsync(new()).ResponseAsync));
        if (NonLoopbackAddress() is { } other)
        {
            Assert.True(await ConnectsAsync(other, server.Settings["Engine:GrpcPort"]!), $"an anonymous server on any address does not answer on {other}");
        }
        // Admin actions are audited without keys too, as "anonymous"'s (a listing's own entry follows it).
        Assert.Empty((await server.Admin.ListAuditEntriesAsync(new())).Entries);
        var entry = Assert.Single((await server.Admin.ListAuditEntriesAsync(new())).Entries);
        Assert.Equal(("anonymous", "ListAuditEntries", "OK"), (entry.Who, entry.Action, entry.Outcome));
    }

    /// <summary>A self-signed certificate for localhost and 127.0.0.1, as an operator's own CA would issue one.</summary>
    private static X509Certificate2 SelfSigned()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    [Fact]
    public async Task Tls_from_a_configured_certificate_serves_grpc_rest_and_the_cli_that_trusts_it()
    {
        using var certificate = SelfSigned();
        var directory = TempDirectory.Create();
        var pfx = Path.Combine(directory, "server.pfx");
        await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "pfx-password"));
        var pem = Path.Combine(directory, "ca.pem");
        await File.WriteAllTextAsync(pem, certificate.ExportCertificatePem());
        var config = new EngineServer(settings: new() { ["Engine:Tls:CertificatePath"] = pfx, ["Engine:Tls:CertificatePassword"] = "pfx-password" });
        await using var app = EngineHost.Build([.. config.Settings.Select(kv => $"--{kv.Key}={kv.Value}")]);
        await app.StartAsync();
        try
        {
            // Trusted by thumbprint: this certificate and no other.
            bool Pinned(X509Certificate? c) => c is not null && c.GetCertHashString(HashAlgorithmName.SHA256) == certificate.GetCertHashString(HashAlgorithmName.SHA256);
            using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, c, _, _) => Pinned(c) });
            var httpsAddress = $"https://127.0.0.1:{config.Settings["Engine:HttpPort"]}";
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while ((await TryGetAsync(http, $"{httpsAddress}/healthz")) != HttpStatusCode.OK)
            {
                Assert.True(DateTime.UtcNow < deadline, "the TLS server did not become healthy in 60 s");
                await Task.Delay(100);
            }
            Assert.Equal(HttpStatusCode.OK, await TryGetAsync(http, $"{httpsAddress}/v1/server"));
            // Plaintext on the same port is not served.
            Assert.NotEqual(HttpStatusCode.OK, await TryGetAsync(new HttpClient(), $"http://127.0.0.1:{config.Settings["Engine:HttpPort"]}/healthz"));

            var grpcAddress = $"https://localhost:{config.Settings["Engine:GrpcPort"]}";
            var handler = new SocketsHttpHandler();
            handler.SslOptions.RemoteCertificateValidationCallback = (_, c, _, _) => Pinned(c);
            using var channel = GrpcChannel.ForAddress(grpcAddress, new GrpcChannelOptions { HttpHandler = handler });
            Assert.Equal("0.2.0", (await new AdminService.AdminServiceClient(channel).GetServerInfoAsync(new())).Version);

            // The CLI: the system's trust refuses a self-signed certificate; ENGINE_CA_CERT trusts it.
            var untrusted = await EngineCli.RunAsync(grpcAddress, "status");
            Assert.NotEqual(0, untrusted.ExitCode);
            var trusted = await EngineCli.RunAsync(grpcAddress, new Dictionary<string, string> { ["ENGINE_CA_CERT"] = pem }, "status");
            Assert.True(trusted.ExitCode == 0, trusted.Err);
            Assert.Equal("0.2.0", JsonDocument.Parse(trusted.Out).RootElement.GetProperty("version").GetString());
        }
        finally
        {
            await app.StopAsync();
        }
    }

    private static async Task<HttpStatusCode?> TryGetAsync(HttpClient http, string url)
    {
        try
        {
            using var response = await http.GetAsync(url);
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    [Fact]
    public async Task A_key_from_engine_admin_key_create_configures_the_server_and_the_cli_sends_it_from_ENGINE_API_KEY()
    {
        var created = await EngineCli.RunAsync("http://127.0.0.1:1", "admin", "key", "create", "--roles", "read,admin", "--name", "ci-bot");
        Assert.True(created.ExitCode == 0, created.Err);
        var printed = JsonDocument.Parse(created.Out).RootElement;
        var key = printed.GetProperty("key").GetString()!;
        Assert.Equal(Sha256Of(key), printed.GetProperty("sha256").GetString());
        Assert.True(key.Length >= 43, key);
        // The printed environment lines, as the server reads Engine__X variables.
        var settings = printed.GetProperty("environment").EnumerateArray().Select(l => l.GetString()!.Split('=', 2))
            .ToDictionary(p => p[0].Replace("__", ":"), p => (string?)p[1]);
        Assert.Equal(["Engine:Auth:Keys:0:Name", "Engine:Auth:Keys:0:Roles", "Engine:Auth:Keys:0:Sha256"], settings.Keys.Order());
        settings["Engine:ListenAddress"] = "loopback";
        await using var server = await new EngineServer(settings: settings).StartAsync();

        var refused = await EngineCli.RunAsync(server.GrpcAddress, "status");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("UNAUTHENTICATED", refused.Err);
        var withKey = new Dictionary<string, string> { ["ENGINE_API_KEY"] = key };
        var status = await EngineCli.RunAsync(server.GrpcAddress, withKey, "status");
        Assert.True(status.ExitCode == 0, status.Err);
        var hooks = await EngineCli.RunAsync(server.GrpcAddress, withKey, "webhook", "list");
        Assert.True(hooks.ExitCode == 0, hooks.Err);
        var audit = await EngineCli.RunAsync(server.GrpcAddress, withKey, "admin", "audit");
        Assert.True(audit.ExitCode == 0, audit.Err);
        var lines = audit.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal([("ci-bot", "ListWebhooks", "OK")],
            lines.Select(e => (e.GetProperty("who").GetString(), e.GetProperty("action").GetString(), e.GetProperty("outcome").GetString())));
    }
}
