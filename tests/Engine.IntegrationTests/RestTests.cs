using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Engine.Api.V1;
using Engine.Testing;
using Google.Api;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Engine.IntegrationTests;

/// <summary>
/// REST beside gRPC: every unary RPC answers through its google.api.http route on the HTTP port, with proto3 JSON
/// names, as a plain HttpClient (or curl) calls it; errors carry the gRPC status and the field that was wrong.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RestTests
{
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    /// <summary>Every unary RPC of the API, and the route the test calls it by.</summary>
    private static readonly string[] Covered =
    [
        "IngestService.Ingest", "SegmentService.GetCustomer", "SegmentService.BatchGetCustomers", "SegmentService.GetHistory",
        "SegmentService.ListSegments", "SegmentService.ListRfmSegments", "SegmentService.ListSegmentMembers", "SegmentService.GetTransitionMatrix",
        "SegmentService.Forecast", "ModelService.Retrain", "ModelService.GetModel", "ModelService.RenameSegment",
        "ModelService.GetDrift", "ModelService.ListModels", "ModelService.CompareModels", "ModelService.Rollback", "AlertService.CreateWebhook", "AlertService.ListWebhooks", "AlertService.DeleteWebhook",
        "AlertService.ListDeadLetters", "AlertService.RedeliverDeadLetters", "AdminService.GetServerInfo", "AdminService.ListQuarantinedEvents", "AdminService.ReplayQuarantinedEvent",
        "AdminService.DiscardQuarantinedEvent", "AdminService.Backup", "AdminService.EraseCustomer", "AdminService.ListAuditEntries",
        "AnalyticsService.GetCohorts",
    ];

    [Fact]
    public void Every_unary_rpc_has_a_rest_route_and_this_test_calls_it()
    {
        ServiceDescriptor[] services =
        [
            IngestService.Descriptor, SegmentService.Descriptor, ModelService.Descriptor, AlertService.Descriptor, AdminService.Descriptor,
            AnalyticsService.Descriptor,
        ];
        var unary = services.SelectMany(s => s.Methods).Where(m => !m.IsClientStreaming && !m.IsServerStreaming).ToList();
        Assert.All(unary, m => Assert.NotNull(m.GetOptions()?.GetExtension(AnnotationsExtensions.Http)));
        Assert.Equal(Covered.Order(), unary.Select(m => $"{m.Service.Name}.{m.Name}").Order());
    }

    [Fact]
    public async Task Every_unary_rpc_answers_over_http_with_json()
    {
        await using var server = await new EngineServer().StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.HttpAddress) };
        var data = Synthetic.Generate(customers: 300, seed: 5);
        var ingest = new IngestRequest();
        ingest.Events.AddRange(data.Events);

        var ingested = await CallAsync<IngestResponse>(http, HttpMethod.Post, "/v1/events:ingest", ingest);
        Assert.Equal(data.Events.Count, ingested.Accepted);
        var retrain = await CallAsync<RetrainResponse>(http, HttpMethod.Post, "/v1/model:retrain", new RetrainRequest { K = 3 });
        Assert.Equal(3, retrain.K);

        var id = data.CustomerIds.First();
        var customer = await CallAsync<Customer>(http, HttpMethod.Get, $"/v1/customers/{id}");
        Assert.Equal(data.Expected()[id].Frequency, customer.Rfm.Frequency);
        var batch = await CallAsync<BatchGetCustomersResponse>(http, HttpMethod.Post, "/v1/customers:batchGet",
            new BatchGetCustomersRequest { CustomerIds = { id, "nosuch" } });
        Assert.Equal(["nosuch"], batch.NotFound);
        var history = await CallAsync<GetHistoryResponse>(http, HttpMethod.Get, $"/v1/customers/{id}/history?limit=1");
        Assert.Single(history.Transitions);
        var segments = await CallAsync<ListSegmentsResponse>(http, HttpMethod.Get, "/v1/segments");
        var rfmSegments = await CallAsync<ListRfmSegmentsResponse>(http, HttpMethod.Get, "/v1/rfm-segments");
        Assert.Equal(10, rfmSegments.Segments.Count);
        Assert.Equal(300, rfmSegments.Segments.Sum(s => s.Size) + rfmSegments.CustomersWithoutPurchase);
        Assert.Equal(300, segments.Segments.Sum(s => s.Size));
        var segment = segments.Segments[0];
        var members = await CallAsync<ListSegmentMembersResponse>(http, HttpMethod.Get,
            $"/v1/segments/{Uri.EscapeDataString(segment.Name)}/members?pageSize=10");
        Assert.Equal((segment.SegmentId, segment.Size), (members.SegmentId, members.TotalSize));
        var matrix = await CallAsync<GetTransitionMatrixResponse>(http, HttpMethod.Get, "/v1/transition-matrix?causes=RETRAIN");
        Assert.Equal(300, matrix.Entries.Sum());
        var cohorts = await CallAsync<GetCohortsResponse>(http, HttpMethod.Get, "/v1/cohorts?period=WEEK&metric=REVENUE");
        Assert.Equal((CohortPeriod.Week, CohortMetric.Revenue), (cohorts.Period, cohorts.Metric));
        Assert.Equal(300 - rfmSegments.CustomersWithoutPurchase, cohorts.Cohorts.Sum(c => c.Size));
        var forecast = await CallAsync<ForecastResponse>(http, HttpMethod.Get, "/v1/forecast?periods=2");
        Assert.Equal(2, forecast.Steps.Count);
        var model = await CallAsync<Model>(http, HttpMethod.Get, "/v1/model");
        Assert.Equal(retrain.ModelVersion, model.Version);
        var renamed = await CallAsync<Segment>(http, HttpMethod.Post, $"/v1/segments/{segment.SegmentId}:rename", new RenameSegmentRequest { Name = "Our best" });
        Assert.Equal("Our best", renamed.Name);
        var drift = await CallAsync<GetDriftResponse>(http, HttpMethod.Get, "/v1/model/drift");
        Assert.Equal(model.Version, drift.ModelVersion);
        var second = await CallAsync<RetrainResponse>(http, HttpMethod.Post, "/v1/model:retrain", new RetrainRequest { K = 4 });
        var listed = await CallAsync<ListModelsResponse>(http, HttpMethod.Get, "/v1/models?pageSize=10");
        Assert.Equal([second.ModelVersion, model.Version], listed.Models.Select(m => m.Version));
        var compared = await CallAsync<CompareModelsResponse>(http, HttpMethod.Get, $"/v1/models:compare?a={model.Version}&b={second.ModelVersion}");
        Assert.Equal(300, compared.Customers);
        var rolledBack = await CallAsync<RetrainResponse>(http, HttpMethod.Post, $"/v1/models/{model.Version}:rollback", new RollbackRequest());
        Assert.Equal((second.ModelVersion + 1, 3), (rolledBack.ModelVersion, rolledBack.K));
        model = await CallAsync<Model>(http, HttpMethod.Get, "/v1/model");

        var hook = await CallAsync<Webhook>(http, HttpMethod.Post, "/v1/webhooks",
            new CreateWebhookRequest { Url = $"http://127.0.0.1:{FreePorts.Next()}/", Secret = "s" });
        Assert.Single((await CallAsync<ListWebhooksResponse>(http, HttpMethod.Get, "/v1/webhooks")).Webhooks, w => w.Id == hook.Id);
        await CallAsync<ListDeadLettersResponse>(http, HttpMethod.Get, $"/v1/dead-letters?webhookId={hook.Id}");
        Assert.Equal(0, (await CallAsync<RedeliverDeadLettersResponse>(http, HttpMethod.Post, $"/v1/webhooks/{hook.Id}:redeliver", new RedeliverDeadLettersRequest())).Redelivered);
        await CallAsync<DeleteWebhookResponse>(http, HttpMethod.Delete, $"/v1/webhooks/{hook.Id}");
        Assert.Empty((await CallAsync<ListWebhooksResponse>(http, HttpMethod.Get, "/v1/webhooks")).Webhooks);

        var info = await CallAsync<ServerInfo>(http, HttpMethod.Get, "/v1/server");
        Assert.Equal(("event-time", "sqlite", model.Version, (long)data.Events.Count), (info.Clock, info.Storage, info.ModelVersion, info.LogHead));
        Assert.Equal("0.2.0", info.Version);
        Assert.Single(info.Silos);
        Assert.Empty((await CallAsync<ListQuarantinedEventsResponse>(http, HttpMethod.Get, "/v1/quarantine?pageSize=10")).Events);
        foreach (var action in new[] { "replay", "discard" })
        {
            var (status, error) = await ErrorAsync(http, HttpMethod.Post, $"/v1/quarantine/99:{action}", new ReplayQuarantinedEventRequest());
            Assert.Equal((HttpStatusCode.NotFound, 5), (status, error.GetProperty("code").GetInt32()));
        }
        var backupDirectory = Path.Combine(Path.GetTempPath(), $"engine-rest-backup-{Guid.NewGuid():N}");
        try
        {
            var backup = await CallAsync<BackupResponse>(http, HttpMethod.Post, "/v1/admin:backup", new BackupRequest { Directory = backupDirectory });
            Assert.Equal(info.LogHead, backup.LogPosition);
            Assert.All(backup.Files, f => Assert.True(File.Exists(Path.Combine(backupDirectory, f.Name)), f.Name));
        }
        finally
        {
            if (Directory.Exists(backupDirectory))
            {
                Directory.Delete(backupDirectory, recursive: true);
            }
        }
        // Without keys every admin action is "anonymous"'s; newest first, this listing's own entry not yet among them.
        var audit = await CallAsync<ListAuditEntriesResponse>(http, HttpMethod.Get, "/v1/audit?pageSize=3");
        Assert.Equal(["Backup", "DiscardQuarantinedEvent", "ReplayQuarantinedEvent"], audit.Entries.Select(e => e.Action));
        Assert.All(audit.Entries, e => Assert.Equal("anonymous", e.Who));
        Assert.Equal(["OK", "NOT_FOUND", "NOT_FOUND"], audit.Entries.Select(e => e.Outcome));
        var erased = await CallAsync<EraseCustomerResponse>(http, HttpMethod.Post, $"/v1/customers/{id}:erase", new EraseCustomerRequest());
        Assert.True(erased.EventsErased > 0);
        var (gone, goneError) = await ErrorAsync(http, HttpMethod.Get, $"/v1/customers/{id}");
        Assert.Equal((HttpStatusCode.NotFound, 5), (gone, goneError.GetProperty("code").GetInt32()));
    }

    [Fact]
    public async Task Errors_carry_the_grpc_status_and_the_offending_field()
    {
        await using var server = await new EngineServer().StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.HttpAddress) };

        var (missing, notFound) = await ErrorAsync(http, HttpMethod.Get, "/v1/customers/nosuch");
        Assert.Equal(HttpStatusCode.NotFound, missing);
        Assert.Equal((5, "customer_id: no customer 'nosuch'"), (notFound.GetProperty("code").GetInt32(), notFound.GetProperty("message").GetString()));

        var (bad, invalid) = await ErrorAsync(http, HttpMethod.Post, "/v1/model:retrain", new RetrainRequest { K = 1 });
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Equal(3, invalid.GetProperty("code").GetInt32());
        var violation = Assert.Single(Assert.Single(invalid.GetProperty("details").EnumerateArray()).GetProperty("fieldViolations").EnumerateArray());
        Assert.Equal("k", violation.GetProperty("field").GetString());
        Assert.StartsWith("must be 2-50", violation.GetProperty("description").GetString());

        // The REST routes and their OpenAPI document are on the HTTP port (29 RPCs; GET and POST share /v1/webhooks).
        var openApi = await http.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        Assert.Equal(28, openApi.GetProperty("paths").EnumerateObject().Count());
        Assert.True(openApi.GetProperty("paths").TryGetProperty("/v1/customers/{customerId}", out _));
        Assert.True(openApi.GetProperty("paths").TryGetProperty("/v1/segments/{segment}/members", out _));
    }

    private static async Task<T> CallAsync<T>(HttpClient http, HttpMethod method, string path, IMessage? body = null) where T : IMessage, new()
    {
        using var response = await SendAsync(http, method, path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{method} {path}: {(int)response.StatusCode} {text}");
        return Parser.Parse<T>(text);
    }

    private static async Task<(HttpStatusCode, JsonElement)> ErrorAsync(HttpClient http, HttpMethod method, string path, IMessage? body = null)
    {
        using var response = await SendAsync(http, method, path, body);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, IMessage? body) =>
        http.SendAsync(new HttpRequestMessage(method, path)
        {
            Content = body is null ? null : new StringContent(JsonFormatter.Default.Format(body), Encoding.UTF8, "application/json"),
        });
}
