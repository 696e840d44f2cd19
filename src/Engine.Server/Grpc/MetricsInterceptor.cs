using System.Collections.Concurrent;
using System.Diagnostics;
using Engine.Grains;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Prometheus;

namespace Engine.Server.Grpc;

/// <summary>
/// Records <c>engine_rpc_duration_seconds{service,method,code}</c> for every call, gRPC or REST (JSON transcoding runs
/// the same interceptors). The histogram child of each (method, code) is looked up once and cached: this runs on every
/// ingest request.
/// </summary>
public sealed class MetricsInterceptor : Interceptor
{
    private static readonly ConcurrentDictionary<(string Method, StatusCode Code), Histogram.Child> Children = new();

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        TimedAsync(context, () => continuation(request, context));

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        TimedAsync(context, () => continuation(requestStream, context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        TimedAsync(context, () => continuation(request, responseStream, context));

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        TimedAsync(context, () => continuation(requestStream, responseStream, context));

    private static async Task<TResponse> TimedAsync<TResponse>(ServerCallContext context, Func<Task<TResponse>> call)
    {
        var started = Stopwatch.GetTimestamp();
        var code = StatusCode.OK;
        try
        {
            return await call();
        }
        catch (Exception ex)
        {
            code = CodeOf(ex);
            throw;
        }
        finally
        {
            Record(context, code, started);
        }
    }

    private static async Task TimedAsync(ServerCallContext context, Func<Task> call) =>
        await TimedAsync<bool>(context, async () =>
        {
            await call();
            return true;
        });

    private static StatusCode CodeOf(Exception ex) => ex switch
    {
        RpcException rpc => rpc.StatusCode,
        OperationCanceledException => StatusCode.Cancelled,
        _ => StatusCode.Unknown,
    };

    private static void Record(ServerCallContext context, StatusCode code, long started)
    {
        // A handler may also set the status without throwing.
        if (code == StatusCode.OK && context.Status.StatusCode != StatusCode.OK)
        {
            code = context.Status.StatusCode;
        }
        Children.GetOrAdd((context.Method, code), Create).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    /// <summary><c>/engine.v1.IngestService/Ingest</c> → service <c>engine.v1.IngestService</c>, method <c>Ingest</c>.</summary>
    private static Histogram.Child Create((string Method, StatusCode Code) key)
    {
        var path = key.Method.TrimStart('/');
        var slash = path.LastIndexOf('/');
        var (service, method) = slash < 0 ? ("", path) : (path[..slash], path[(slash + 1)..]);
        return EngineMetrics.RpcSeconds.WithLabels(service, method, key.Code.ToString());
    }
}
