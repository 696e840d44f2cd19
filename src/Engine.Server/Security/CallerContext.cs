using Grpc.Core;

namespace Engine.Server.Security;

/// <summary>
/// Who is calling, for a handler: the API key the authorization interceptor accepted, on gRPC and REST alike (JSON
/// transcoding runs the same interceptors). <c>context.Caller().Name</c> is what the audit log records as who.
/// </summary>
public static class CallerContext
{
    private const string CallerKey = "engine.caller";
    private const string TargetKey = "engine.audit-target";

    /// <summary>The caller of this call: the key's name and roles; <see cref="ApiCaller.Anonymous"/> on a server without keys.</summary>
    public static ApiCaller Caller(this ServerCallContext context) =>
        context.UserState.TryGetValue(CallerKey, out var caller) && caller is ApiCaller c ? c : ApiCaller.Anonymous;

    /// <summary>The same on the HTTP request the call came on (REST, or the gRPC request itself).</summary>
    public static ApiCaller Caller(this HttpContext http) =>
        http.Items.TryGetValue(CallerKey, out var caller) && caller is ApiCaller c ? c : ApiCaller.Anonymous;

    internal static void SetCaller(ServerCallContext context, ApiCaller caller)
    {
        context.UserState[CallerKey] = caller;
        if (context.GetHttpContext() is { } http)
        {
            http.Items[CallerKey] = caller;
        }
    }

    /// <summary>
    /// What this admin call's audit entry names as its target, when the request's own field must not be recorded
    /// (erasure: a salted hash of the customer id). Set before the handler returns or throws.
    /// </summary>
    public static void SetAuditTarget(this ServerCallContext context, string target) => context.UserState[TargetKey] = target;

    internal static string? AuditTarget(ServerCallContext context) =>
        context.UserState.TryGetValue(TargetKey, out var target) ? target as string : null;
}
