using Engine.Grains;
using Microsoft.Extensions.Options;
using Engine.Server.Grpc;
using Engine.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Engine.Server.Hosting;

public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Every options class, each bound from the one "Engine" section and validated at start (the keys are the same
    /// whichever class holds them).
    /// </summary>
    public static IServiceCollection AddEngineOptions(this IServiceCollection services, IConfiguration section)
    {
        var validator = new EngineOptionsValidator();
        services.AddSingleton<IValidateOptions<EngineOptions>>(validator);
        services.AddSingleton<IValidateOptions<IngestOptions>>(validator);
        services.AddSingleton<IValidateOptions<ModelOptions>>(validator);
        services.AddSingleton<IValidateOptions<AlertOptions>>(validator);
        services.AddOptions<EngineOptions>().Bind(section).ValidateOnStart();
        services.AddOptions<IngestOptions>().Bind(section).ValidateOnStart();
        services.AddOptions<ModelOptions>().Bind(section).ValidateOnStart();
        services.AddOptions<AlertOptions>().Bind(section).ValidateOnStart();
        services.AddOptions<Alerts.WebhookTargetOptions>().Bind(section.GetSection("Webhooks"));
        return services;
    }

    /// <summary>The silo-local services grains and gRPC handlers share. Hosted services start after the silo.</summary>
    public static IServiceCollection AddEngineServices(this IServiceCollection services)
    {
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<EngineClock>();
        services.AddSingleton<ShardRouter>();
        services.AddSingleton<ModelReplica>();
        services.AddSingleton<PopulationQueries>();
        services.AddSingleton<SegmentMembers>();
        services.AddSingleton<TransitionLogWriter>();
        services.AddSingleton<OutcomePublisher>();
        services.AddSingleton<ClusterLeader>();
        services.AddSingleton<CustomerLookupCache>();
        services.AddSingleton<CustomerGrains>();
        services.AddSingleton<CustomerGrain.Services>();
        services.AddSingleton<IngestPipeline>();
        services.AddHostedService(sp => sp.GetRequiredService<IngestPipeline>());
        services.AddHostedService<CheckpointScheduler>();
        services.AddHostedService<ModelWatcher>();
        services.AddHostedService<DriftWatcher>();
        services.AddHostedService<InactivitySweeper>();
        services.AddHostedService<WatermarkSync>();
        services.AddHostedService<LogRetention>();
        services.AddHostedService<RuntimePauseProbe>();
        return services;
    }

    public static IServiceCollection AddEngineGrpc(this IServiceCollection services)
    {
        services.AddGrpc(o =>
        {
            // Oversized requests are rejected by our own check with INVALID_ARGUMENT and the field named,
            // so the transport limit sits above it.
            o.MaxReceiveMessageSize = EventValidator.MaxRequestBytes * 2;
            // First is outermost: the latency metric sees the status ErrorInterceptor translated.
            o.Interceptors.Add<MetricsInterceptor>();
            // Then keys and roles (docs/security.md): a refused call is counted, and the audit entry sees translated statuses.
            o.Interceptors.Add<Security.AuthInterceptor>();
            o.Interceptors.Add<ErrorInterceptor>();
        }).AddJsonTranscoding(o =>
            // The rich error details ErrorInterceptor adds, so they render in a REST error body.
            o.TypeRegistry = Google.Protobuf.Reflection.TypeRegistry.FromMessages(Google.Rpc.BadRequest.Descriptor));
        // The OpenAPI document of the REST routes (the google.api.http annotations in the protos), at /openapi/v1.json.
        services.AddGrpcSwagger();
        services.AddSwaggerGen(o => o.SwaggerDoc("v1", new Microsoft.OpenApi.Models.OpenApiInfo
        {
            Title = "Engine",
            Version = "v1",
            Description = "Real-time customer segmentation: the gRPC API of protos/engine/v1 as REST/JSON (docs/api.md).",
        }));
        services.AddSingleton<EventValidator>();
        services.AddSingleton<ErasureAudit>();
        services.AddSingleton<Alerts.AlertFeed>();
        // Redirects are not followed (a 3xx is the receiver refusing the alert), and every connection goes through the
        // target check, so the address checked is the address connected to.
        services.AddHttpClient(Alerts.WebhookSender.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(10))
            .ConfigurePrimaryHttpMessageHandler(sp =>
            {
                var targets = sp.GetRequiredService<IOptions<Alerts.WebhookTargetOptions>>().Value;
                return new SocketsHttpHandler
                {
                    AllowAutoRedirect = false,
                    ConnectCallback = (context, ct) => Alerts.WebhookTargets.ConnectAsync(context.DnsEndPoint, targets.AllowPrivateTargets, ct),
                };
            });
        services.AddSingleton<Alerts.WebhookSender>();
        services.AddSingleton<Alerts.AlertBodies>();
        services.AddSingleton<Alerts.WebhookFilters>();
        services.AddHostedService<Alerts.WebhookDispatcher>();
        services.AddGrpcReflection();
        services.AddGrpcHealthChecks().AddCheck<IngestReadyCheck>("ingest");
        return services;
    }
}

/// <summary>Healthy once crash recovery is done and ingest is open.</summary>
public sealed class IngestReadyCheck(IngestPipeline pipeline) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(pipeline.Ready.IsCompletedSuccessfully
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("recovering the ingest log"));
}
