using Google.Protobuf.WellKnownTypes;
using BadRequest = Google.Rpc.BadRequest;
using Code = Google.Rpc.Code;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Engine.Server.Grpc;

/// <summary>
/// Turns domain and Orleans failures into gRPC statuses a client can act on, with the message kept. An
/// INVALID_ARGUMENT whose message starts with a field path (<c>events[3].amount: must be finite</c>) also carries a
/// <c>google.rpc.BadRequest</c> field violation in the rich status, which REST clients get in the error body.
/// </summary>
public sealed partial class ErrorInterceptor(ILogger<ErrorInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception ex) when (Translate(ex, context) is { } translated)
        {
            throw translated;
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception ex) when (Translate(ex, context) is { } translated)
        {
            throw translated;
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (Exception ex) when (Translate(ex, context) is { } translated)
        {
            throw translated;
        }
    }

    /// <summary>What to throw instead of <paramref name="ex"/>; null to let it through as it is.</summary>
    private RpcException? Translate(Exception ex, ServerCallContext context)
    {
        if (ex is Engine.Grains.IngestOverloadedException overloaded)
        {
            return Overloaded(overloaded, context);
        }
        var rpc = ex as RpcException ?? (Map(ex, context) is { } status ? new RpcException(status) : null);
        return rpc is null ? null : WithFieldViolation(rpc) ?? (ReferenceEquals(rpc, ex) ? null : rpc);
    }

    /// <summary>
    /// RESOURCE_EXHAUSTED with when to come back: a <c>retry-after-ms</c> trailer for gRPC clients, and the standard
    /// <c>Retry-After</c> header (seconds) on REST's 429 where the response has not started.
    /// </summary>
    private static RpcException Overloaded(Engine.Grains.IngestOverloadedException e, ServerCallContext context)
    {
        var ms = (long)Math.Ceiling(e.RetryAfter.TotalMilliseconds);
        if (context.GetHttpContext() is { Response.HasStarted: false } http)
        {
            http.Response.Headers.RetryAfter = Math.Max(1, (ms + 999) / 1000).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return new RpcException(new Status(StatusCode.ResourceExhausted, e.Message), new Metadata { { "retry-after-ms", ms.ToString(System.Globalization.CultureInfo.InvariantCulture) } });
    }

    private static RpcException? WithFieldViolation(RpcException e)
    {
        var detail = e.Status.Detail;
        var colon = detail.IndexOf(": ", StringComparison.Ordinal);
        if (e.StatusCode != StatusCode.InvalidArgument || colon <= 0 || detail.AsSpan(0, colon).ContainsAny(' ', '\'')
            || e.Trailers.Get("grpc-status-details-bin") is not null)
        {
            return null;
        }
        var violation = new BadRequest.Types.FieldViolation { Field = detail[..colon], Description = detail[(colon + 2)..] };
        return new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = detail,
            Details = { Any.Pack(new BadRequest { FieldViolations = { violation } }) },
        }.ToRpcException();
    }

    private Status? Map(Exception ex, ServerCallContext context)
    {
        var status = ex switch
        {
            RpcException => (Status?)null,
            System.Threading.Channels.ChannelClosedException => new Status(StatusCode.Unavailable, "this silo is shutting down; send to another silo"),
            Engine.Grains.EventsNotAppliedException n => new Status(StatusCode.Unavailable, n.Message),
            ArgumentException a => new Status(StatusCode.InvalidArgument, a.Message),
            InvalidOperationException i => new Status(StatusCode.FailedPrecondition, i.Message),
            TimeoutException t => new Status(StatusCode.Unavailable, $"timed out inside the cluster: {t.Message}"),
            OperationCanceledException when context.CancellationToken.IsCancellationRequested => new Status(StatusCode.Cancelled, "cancelled by the client"),
            // A silo died or is leaving, or storage failed: transient, so the client should retry (on any silo).
            OrleansException o => new Status(StatusCode.Unavailable, $"cluster unavailable, retry: {o.Message}"),
            _ => new Status(StatusCode.Internal, ex.Message),
        };
        if (status is { StatusCode: StatusCode.Internal or StatusCode.Unavailable })
        {
            LogFailed(logger, ex, context.Method);
        }
        return status;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} failed")]
    private static partial void LogFailed(ILogger logger, Exception exception, string method);
}
