using Engine.Storage;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Engine.Server.Security;

/// <summary>
/// Authorization of every call, gRPC and REST alike (JSON transcoding runs the gRPC interceptors): with keys configured
/// a call needs <c>authorization: Bearer KEY</c> of a known key (else UNAUTHENTICATED, HTTP 401) whose roles cover the
/// method's role in <see cref="Roles"/> (else PERMISSION_DENIED, 403). Admin calls then append an audit entry once they
/// end, with their outcome: a uniform record of every admin action and every use of a key on one, including the
/// refused ones (PERMISSION_DENIED). Calls without a known key are not audited: anyone could fill the log with them.
/// </summary>
public sealed partial class AuthInterceptor(ApiKeys keys, IAuditLog audit, ILogger<AuthInterceptor> logger) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        PassesUnchecked(context) ? continuation(request, context) : RunAsync(request, context, () => continuation(request, context));

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        PassesUnchecked(context) ? continuation(requestStream, context) : RunAsync<TResponse>(null, context, () => continuation(requestStream, context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        PassesUnchecked(context) ? continuation(request, responseStream, context) : RunAsync<object?>(request, context, async () =>
        {
            await continuation(request, responseStream, context);
            return null;
        });

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        PassesUnchecked(context) ? continuation(requestStream, responseStream, context) : RunAsync<object?>(null, context, async () =>
        {
            await continuation(requestStream, responseStream, context);
            return null;
        });

    /// <summary>
    /// No keys: anonymous holds every role, and only admin calls are recorded, so any other call goes straight on (no
    /// closure, no async frame: ingest's path stays as it was).
    /// </summary>
    private bool PassesUnchecked(ServerCallContext context) =>
        !keys.Enabled && Roles.ByMethod.GetValueOrDefault(context.Method) is { Audited: false };

    private async Task<TResponse> RunAsync<TResponse>(object? request, ServerCallContext context, Func<Task<TResponse>> call)
    {
        var rule = Roles.ByMethod.GetValueOrDefault(context.Method);
        var caller = Authorize(context, rule);
        if (caller is null)
        {
            return await call();
        }
        if (rule is not { Audited: true })
        {
            Refuse(caller, rule, context);
            return await call();
        }
        var outcome = AuditLog.Ok;
        object? response = null;
        try
        {
            Refuse(caller, rule, context);
            var result = await call();
            response = result;
            if (context.Status.StatusCode != StatusCode.OK)
            {
                outcome = NameOf(context.Status.StatusCode);
            }
            return result;
        }
        catch (RpcException e)
        {
            outcome = NameOf(e.StatusCode);
            throw;
        }
        catch (OperationCanceledException)
        {
            outcome = NameOf(StatusCode.Cancelled);
            throw;
        }
        catch (Exception)
        {
            outcome = NameOf(StatusCode.Internal);
            throw;
        }
        finally
        {
            await AppendAsync(caller, rule, request, response, context, outcome);
        }
    }

    /// <summary>
    /// The caller, once its key is known; null for a call that needs none (a probe). Throws UNAUTHENTICATED for a
    /// missing or unknown key.
    /// </summary>
    private ApiCaller? Authorize(ServerCallContext context, RpcRule? rule)
    {
        if (!keys.Enabled)
        {
            return ApiCaller.Anonymous;
        }
        if (rule is { Open: true })
        {
            return null;
        }
        var key = ApiKeys.BearerOf(context.RequestHeaders.GetValue("authorization"));
        if (key is null)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                "authorization: this server needs an API key: send `authorization: Bearer <key>` (docs/security.md)"));
        }
        return keys.Find(key) ?? throw new RpcException(new Status(StatusCode.Unauthenticated, "authorization: unknown API key"));
    }

    private static void Refuse(ApiCaller caller, RpcRule? rule, ServerCallContext context)
    {
        if (rule is null)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"{context.Method} has no role in the server's table: refused to every key"));
        }
        if (!caller.May(rule.Role))
        {
            var method = context.Method[(context.Method.LastIndexOf('/') + 1)..];
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"authorization: key '{caller.Name}' lacks the {Roles.NameOf(rule.Role)} role that {method} needs"));
        }
    }

    private async Task AppendAsync(ApiCaller caller, RpcRule rule, object? request, object? response, ServerCallContext context, string outcome)
    {
        var action = context.Method[(context.Method.LastIndexOf('/') + 1)..];
        var target = CallerContext.AuditTarget(context)
            ?? FieldOf(request, rule.RequestTarget) ?? FieldOf(response, rule.ResponseTarget) ?? "";
        try
        {
            // Not the call's token: a client that hangs up after the action must not erase its record.
            await audit.AppendAsync(caller.Name, action, target, AuditDetails.Of(request as IMessage), outcome, CancellationToken.None);
        }
        catch (Exception ex)
        {
            LogAuditFailed(logger, ex, action, caller.Name, outcome);
        }
    }

    private static string? FieldOf(object? message, string? field) =>
        message is IMessage m && field is not null && m.Descriptor.FindFieldByName(field) is { } f ? f.Accessor.GetValue(m)?.ToString() : null;

    /// <summary>PermissionDenied → PERMISSION_DENIED: the status names the API documents.</summary>
    public static string NameOf(StatusCode code) => code == StatusCode.OK ? AuditLog.Ok
        : string.Concat(code.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : c.ToString())).ToUpperInvariant();

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not append the audit entry of {Action} by {Who} (outcome {Outcome})")]
    private static partial void LogAuditFailed(ILogger logger, Exception exception, string action, string who, string outcome);
}
