using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Engine.TestKit;

/// <summary>
/// Gives a test's unary calls that set no deadline of their own a generous one, and names the method when it passes:
/// a server that never answers fails that test with the call it was waiting for, instead of holding the whole run
/// until CI gives up on it. Streams are left alone; the tests that read them bound them with cancellation tokens.
/// </summary>
public sealed class CallDeadline(TimeSpan limit) : Interceptor
{
    /// <summary>Far beyond any answer a test waits for on a slow machine; well within the run's hang guard (tests/hang.runsettings).</summary>
    public static readonly TimeSpan Default = TimeSpan.FromMinutes(4);

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context,
        AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        if (context.Options.Deadline is not null)
        {
            return continuation(request, context);
        }
        var call = continuation(request, new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host,
            context.Options.WithDeadline(DateTime.UtcNow + limit)));
        return new AsyncUnaryCall<TResponse>(Named(call.ResponseAsync, context.Method.FullName), call.ResponseHeadersAsync, call.GetStatus,
            call.GetTrailers, call.Dispose);
    }

    private async Task<TResponse> Named<TResponse>(Task<TResponse> response, string method)
    {
        try
        {
            return await response;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.DeadlineExceeded)
        {
            throw new TimeoutException($"{method} got no answer in {limit.TotalSeconds:0} s", e);
        }
    }
}
