using Engine.Api.V1;
using Engine.Server.Security;
using Google.Protobuf.Reflection;

namespace Engine.IntegrationTests;

/// <summary>
/// The one table of roles (src/Engine.Server/Security/Roles.cs) names every method of every service the server maps, so
/// a new RPC cannot be served without a decided role; and the audit targets it names are fields of the messages.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RoleTableTests
{
    private static readonly ServiceDescriptor[] Served =
    [
        IngestService.Descriptor, SegmentService.Descriptor, ModelService.Descriptor, AlertService.Descriptor, AdminService.Descriptor,
        Grpc.Health.V1.Health.Descriptor, Grpc.Reflection.V1Alpha.ServerReflection.Descriptor,
    ];

    [Fact]
    public void Every_method_of_every_service_has_a_role()
    {
        var methods = Served.SelectMany(s => s.Methods).Select(m => $"/{m.Service.FullName}/{m.Name}").ToList();
        Assert.True(methods.Count > 25, $"only {methods.Count} methods found");
        var missing = methods.Where(m => !Roles.ByMethod.ContainsKey(m)).ToList();
        Assert.True(missing.Count == 0, $"no role in Roles.ByMethod for {string.Join(", ", missing)}");
    }

    /// <summary>The server's own endpoints (built, not started): a service mapped later is covered too.</summary>
    [Fact]
    public async Task Every_grpc_method_the_server_maps_has_a_role()
    {
        var server = new Engine.TestKit.EngineServer();
        await using var app = Engine.Server.Hosting.EngineHost.Build([.. server.Settings.Select(kv => $"--{kv.Key}={kv.Value}")]);
        var mapped = ((Microsoft.AspNetCore.Routing.IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints)
            .Select(e => e.Metadata.GetMetadata<Grpc.AspNetCore.Server.GrpcMethodMetadata>()?.Method.FullName)
            .OfType<string>().Distinct().ToList();
        Assert.Contains("/engine.v1.AdminService/ListAuditEntries", mapped);
        var missing = mapped.Where(m => !Roles.ByMethod.ContainsKey(m)).ToList();
        Assert.True(missing.Count == 0, $"no role in Roles.ByMethod for {string.Join(", ", missing)}");
    }

    [Fact]
    public void Only_probes_are_open_and_every_admin_method_is_audited_with_targets_that_exist()
    {
        foreach (var method in Served.SelectMany(s => s.Methods))
        {
            var rule = Roles.ByMethod[$"/{method.Service.FullName}/{method.Name}"];
            Assert.Equal(method.Service.FullName == "grpc.health.v1.Health", rule.Open);
            Assert.Equal(rule.Role == Role.Admin, rule.Audited);
            if (rule.RequestTarget is { } field)
            {
                Assert.NotNull(method.InputType.FindFieldByName(field));
            }
            if (rule.ResponseTarget is { } answer)
            {
                Assert.NotNull(method.OutputType.FindFieldByName(answer));
            }
        }
        // The issue's admin actions, and a read and an ingest method (streams included).
        foreach (var admin in new[] { "ModelService/Retrain", "ModelService/RenameSegment", "AlertService/CreateWebhook", "AlertService/DeleteWebhook",
            "AdminService/Backup", "AdminService/ListAuditEntries", "AdminService/EraseCustomer", "AdminService/ReplayQuarantinedEvent" })
        {
            Assert.Equal(Role.Admin, Roles.ByMethod[$"/engine.v1.{admin}"].Role);
        }
        Assert.Equal(Role.Read, Roles.ByMethod["/engine.v1.AlertService/SubscribeMigrations"].Role);
        Assert.Equal(Role.Ingest, Roles.ByMethod["/engine.v1.IngestService/IngestStream"].Role);
    }

    [Fact]
    public void Audit_details_keep_no_webhook_secret_header_customer_id_or_url_path()
    {
        var details = AuditDetails.Of(new CreateWebhookRequest
        {
            Url = "https://hooks.example.com/services/T000/B000/tokentoken?sig=abc",
            Secret = "whsec_topsecret",
            Headers = { ["Authorization"] = "Bearer braze-key" },
            MaxBatch = 5,
        });
        Assert.DoesNotContain("topsecret", details);
        Assert.DoesNotContain("braze-key", details);
        Assert.DoesNotContain("tokentoken", details);
        Assert.DoesNotContain("sig=", details);
        Assert.Contains("https://hooks.example.com:443", details);
        Assert.Contains("\"maxBatch\": 5", details);
        Assert.DoesNotContain("c-42", AuditDetails.Of(new GetCustomerRequest { CustomerId = "c-42" }));
    }
}
