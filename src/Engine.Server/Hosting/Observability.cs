using Engine.Grains;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Dashboard;

namespace Engine.Server.Hosting;

/// <summary>
/// The opt-in observability add-ons: OpenTelemetry tracing (on when an OTLP endpoint is configured through the standard
/// variables) and the Orleans Dashboard (<c>Engine:Dashboard=true</c>). Both off cost nothing: no listener, no filter.
/// </summary>
public static class Observability
{
    public const string DashboardKey = "Engine:Dashboard";
    public const string DashboardPath = "/dashboard";

    /// <summary>Names of the standard variables that turn tracing on (either one).</summary>
    public static readonly string[] EndpointVariables = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"];

    public static bool TracingEnabled(IConfiguration configuration) =>
        EndpointVariables.Any(v => !string.IsNullOrWhiteSpace(configuration[v] ?? Environment.GetEnvironmentVariable(v)));

    public static bool DashboardEnabled(IConfiguration configuration) => configuration.GetValue<bool>(DashboardKey);

    /// <summary>
    /// Tracing: ASP.NET Core's server spans (gRPC and REST; not /metrics and health probes), grain calls (Orleans'
    /// application source; the runtime's own calls left out), Engine's storage spans and Npgsql's commands, exported by
    /// OTLP as the OTEL_EXPORTER_OTLP_* variables say (endpoint, protocol, headers; OTEL_BSP_* for batching).
    /// </summary>
    public static WebApplicationBuilder AddEngineObservability(this WebApplicationBuilder builder)
    {
        var tracing = TracingEnabled(builder.Configuration);
        var dashboard = DashboardEnabled(builder.Configuration);
        if (tracing)
        {
            builder.Services.AddOpenTelemetry()
                .ConfigureResource(r => r.AddService(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") ?? "engine", serviceVersion: EngineMetrics.Version))
                .WithTracing(t => t
                    .AddAspNetCoreInstrumentation(o => o.Filter = http => !IsProbe(http.Request.Path))
                    .AddSource("Microsoft.Orleans.Application", EngineTracing.SourceName, "Npgsql")
                    .AddOtlpExporter());
        }
        if (tracing || dashboard)
        {
            builder.Host.UseOrleans(silo =>
            {
                if (tracing)
                {
                    // Grain calls carry the caller's trace and open client and server spans.
                    silo.AddActivityPropagation();
                }
                if (dashboard)
                {
                    silo.AddDashboard();
                }
            });
        }
        return builder;
    }

    /// <summary>The Orleans Dashboard on the HTTP port under /dashboard, when enabled.</summary>
    public static WebApplication MapEngineDashboard(this WebApplication app, string httpHost)
    {
        if (DashboardEnabled(app.Configuration))
        {
            app.MapOrleansDashboard(routePrefix: DashboardPath).RequireHost(httpHost);
        }
        return app;
    }

    private static bool IsProbe(PathString path) =>
        path.StartsWithSegments("/metrics") || path.StartsWithSegments("/healthz") || path.StartsWithSegments("/livez")
        || path.StartsWithSegments("/grpc.health.v1.Health") || path.StartsWithSegments(DashboardPath);
}
