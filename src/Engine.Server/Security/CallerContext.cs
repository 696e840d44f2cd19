using Grpc.Core;

namespace Engine.Server.Security;

/// <summary>
/// What a handler tells the authorization interceptor about its call (on gRPC and REST alike: JSON transcoding runs
/// the same interceptors): the audit entry's target, where the request's own field must not be recorded.
/// </summary>
public static class CallerContext
{
    private const string TargetKey = "engine.audit-target";

    /// <summary>
    /// What this admin call's audit entry names as its target, when the request's own field must not be recorded
    /// (erasure: a salted hash of the customer id). Set before the handler returns or throws.
    /// </summary>
    public static void SetAuditTarget(this ServerCallContext context, string target) => context.UserState[TargetKey] = target;

    internal static string? AuditTarget(ServerCallContext context) =>
        context.UserState.TryGetValue(TargetKey, out var target) ? target as string : null;
}
