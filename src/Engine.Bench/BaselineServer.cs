using System.CommandLine;
using Engine.Testing;
using Engine.Api.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engine.Bench;

/// <summary>
/// `engine-bench baseline-server`: the yardstick for lookups. The same gRPC service and protocol as Engine, hosted the
/// same way (Kestrel, HTTP/2, one Orleans silo in the process), where GetCustomer is one call to a grain that does
/// nothing. Whatever Engine adds on top (state, features, the model) shows as the gap to it. With <c>--no-grain</c>
/// GetCustomer answers without any grain call: the floor of gRPC alone on this machine, which no lookup can beat.
/// </summary>
public static class BaselineServer
{
    public static Command Create()
    {
        var grpc = new Option<int>("--grpc-port") { Required = true };
        var http = new Option<int>("--http-port") { Required = true };
        var noGrain = new Option<bool>("--no-grain") { Description = "Answer GetCustomer without calling a grain" };
        var command = new Command("baseline-server", "Bare gRPC → no-op grain server (used by bench lookup)") { grpc, http, noGrain };
        command.Hidden = true;
        command.SetAction(async (parse, ct) =>
        {
            var builder = WebApplication.CreateBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.ListenAnyIP(parse.GetValue(grpc), l => l.Protocols = HttpProtocols.Http2);
                k.ListenAnyIP(parse.GetValue(http), l => l.Protocols = HttpProtocols.Http1);
            });
            builder.Host.UseOrleans(silo => silo.UseLocalhostClustering(FreePorts.Next(), FreePorts.Next(), serviceId: "baseline", clusterId: "baseline"));
            builder.Services.AddGrpc();
            var app = builder.Build();
            if (parse.GetValue(noGrain))
            {
                app.MapGrpcService<NoGrainSegments>();
            }
            else
            {
                app.MapGrpcService<BareSegments>();
            }
            app.MapGet("/healthz", () => "ok");
            await app.RunAsync(ct);
            return 0;
        });
        return command;
    }

    /// <summary>Starts this server as another process of this tool, on free ports.</summary>
    public static Task<BenchServer> StartAsync(bool noGrain)
    {
        var (grpc, http) = (FreePorts.Next(), FreePorts.Next());
        string[] arguments = ["baseline-server", $"--grpc-port={grpc}", $"--http-port={http}"];
        return BenchServer.StartToolAsync(noGrain ? [.. arguments, "--no-grain"] : arguments, grpc, http);
    }

    private sealed class BareSegments(IGrainFactory grains) : SegmentService.SegmentServiceBase
    {
        public override async Task<Customer> GetCustomer(GetCustomerRequest request, ServerCallContext context)
        {
            await grains.GetGrain<IBaselineGrain>(request.CustomerId).TouchAsync();
            return new Customer { CustomerId = request.CustomerId };
        }
    }

    private sealed class NoGrainSegments : SegmentService.SegmentServiceBase
    {
        public override Task<Customer> GetCustomer(GetCustomerRequest request, ServerCallContext context) =>
            Task.FromResult(new Customer { CustomerId = request.CustomerId });
    }
}
