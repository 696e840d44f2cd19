using Engine.Grains;
using Microsoft.Extensions.Options;
using Engine.Server.Grpc;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Prometheus;

namespace Engine.Server.Hosting;

/// <summary>Builds the Engine web application: composition lives here so Program.cs stays one screen.</summary>
public static class EngineHost
{
    /// <summary>
    /// Runs the server until it is stopped. A start that cannot complete (crash recovery failed, the silo could not
    /// start) ends the process with exit code 1 and the reason on one line of stderr, so a supervisor sees the failure.
    /// </summary>
    public static async Task<int> RunAsync(string[] args)
    {
        try
        {
            var app = Build(args);
            // Taken before running: the run disposes the services.
            var pipeline = app.Services.GetRequiredService<IngestPipeline>();
            await app.RunAsync();
            if (pipeline.Ready is { IsFaulted: true } ready)
            {
                return Fail("crash recovery of the ingest log failed", ready.Exception!.GetBaseException());
            }
            return 0;
        }
        catch (Exception ex)
        {
            return Fail("start-up failed", ex);
        }
    }

    /// <summary>
    /// Writes the reason on one line: our own refusal (a setting out of range, a store written under other settings)
    /// as it is; anything else with the messages of its chain, innermost last.
    /// </summary>
    private static int Fail(string what, Exception ex)
    {
        var chain = new List<Exception>();
        for (var e = ex; e is not null; e = e.InnerException)
        {
            chain.Add(e);
        }
        var ours = chain.FirstOrDefault(e => e is StoreSettingsException or OptionsValidationException);
        var reason = ours is OptionsValidationException invalid ? string.Join("; ", invalid.Failures)
            : ours is not null ? ours.Message
            : string.Join(": ", chain.Select(e => e.Message.TrimEnd('.')).Distinct());
        Console.Error.WriteLine($"engine: {what}: {string.Join(' ', reason.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries))}");
        return 1;
    }

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // Configuration is read once, at start. A reload watcher on the content root (the working directory) would also
        // hear every write under a data directory inside it, as the default ./data is: in an event-time import it took
        // about a tenth of a core and allocated for each event it heard (deploy/bench/HISTORY.md, "Behind the code").
        // First, so that a --hostBuilder:reloadConfigOnChange=true on the caller's command line still wins (the
        // environment variable does not: the command line outranks it).
        var builder = WebApplication.CreateBuilder(["--hostBuilder:reloadConfigOnChange=false", .. args]);
        configure?.Invoke(builder);
        var section = builder.Configuration.GetSection(EngineOptions.Section);
        var options = section.Get<EngineOptions>() ?? new EngineOptions();
        EngineOptionsValidator.ThrowIfInvalid(options, section.Get<IngestOptions>() ?? new(), section.Get<ModelOptions>() ?? new(),
            section.Get<AlertOptions>() ?? new());
        builder.Services.AddEngineOptions(section);
        // Keys, listen address and certificate (docs/security.md): without keys, loopback only.
        var security = Security.SecurityPlan.From(builder.Configuration);
        builder.Services.AddSingleton(security.Keys);

        builder.WebHost.ConfigureKestrel(k =>
        {
            // HTTP/2 (gRPC) and HTTP/1.1 (/metrics, /healthz, /livez) cannot share a plaintext port.
            security.Listen(k, options.GrpcPort, HttpProtocols.Http2);
            security.Listen(k, options.HttpPort, HttpProtocols.Http1);
        });
        builder.Host.UseOrleans(silo => silo.AddEngineSilo(options));
        builder.Services.AddEngineServices();
        builder.Services.AddEngineGrpc();
        builder.AddEngineObservability();

        var app = builder.Build();
        StartupLog.Write(app.Services, options, options.UsesKubernetesHosting(Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST")));
        security.Log(app.Services);
        Security.DashboardKey.UseDashboardKey(app, security.Keys, Observability.DashboardPath);
        app.MapEngineEndpoints(options);
        return app;
    }

    private static void MapEngineEndpoints(this WebApplication app, EngineOptions options)
    {
        var grpcHost = $"*:{options.GrpcPort}";
        var httpHost = $"*:{options.HttpPort}";
        // Each service's gRPC methods on the gRPC port, its REST routes (JSON transcoding) on the HTTP port.
        app.MapGrpcService<IngestGrpcService>().OnPorts(grpcHost, httpHost);
        app.MapGrpcService<SegmentGrpcService>().OnPorts(grpcHost, httpHost);
        app.MapGrpcService<ModelGrpcService>().OnPorts(grpcHost, httpHost);
        app.MapGrpcService<AlertGrpcService>().OnPorts(grpcHost, httpHost);
        app.MapGrpcService<AdminGrpcService>().OnPorts(grpcHost, httpHost);
        app.MapGrpcService<AnalyticsGrpcService>().OnPorts(grpcHost, httpHost);
        app.MapGrpcHealthChecksService().RequireHost(grpcHost);
        app.MapGrpcReflectionService().RequireHost(grpcHost);
        EngineMetrics.Register();
        app.MapMetrics("/metrics").RequireHost(httpHost);
        app.MapEngineDashboard(httpHost);
        app.MapSwagger("/openapi/{documentName}.json").RequireHost(httpHost);
        app.MapGet("/healthz", (IngestPipeline pipeline) => pipeline.Ready.IsCompletedSuccessfully
            ? Results.Text("ok")
            : Results.Text("starting: recovering the ingest log", statusCode: StatusCodes.Status503ServiceUnavailable)).RequireHost(httpHost);
        // Liveness: the process serves HTTP, recovering or not. Readiness stays /healthz (and gRPC health): a probe that
        // restarted a silo still replaying its log would never let it finish.
        app.MapGet("/livez", () => Results.Text("ok")).RequireHost(httpHost);
    }

    private static void OnPorts(this GrpcServiceEndpointConventionBuilder service, string grpcHost, string httpHost) =>
        service.Add(endpoint => endpoint.Metadata.Add(new HostAttribute(
            endpoint.Metadata.Any(m => m is Microsoft.AspNetCore.Grpc.JsonTranscoding.GrpcJsonTranscodingMetadata) ? httpHost : grpcHost)));
}
