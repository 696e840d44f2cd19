namespace Engine.Server.Security;

/// <summary>What an API key may do (<c>Engine:Auth:Keys:N:Roles</c>). A key holds any set of them; none implies another.</summary>
[Flags]
public enum Role
{
    None = 0,
    Ingest = 1,
    Read = 2,
    Admin = 4,
}

/// <summary>
/// The role an RPC needs, and what its audit entry names as target. <see cref="Open"/>: no key needed (probes).
/// <see cref="RequestTarget"/> / <see cref="ResponseTarget"/>: the field of the request or the response that holds what
/// the action acted on; a handler can also set it itself (<see cref="CallerContext.SetAuditTarget"/>).
/// </summary>
public sealed record RpcRule(Role Role, string? RequestTarget = null, string? ResponseTarget = null)
{
    public bool Open => Role == Role.None;

    /// <summary>Admin RPCs append an audit entry when they end (outcome OK or the status).</summary>
    public bool Audited => Role == Role.Admin;
}

/// <summary>
/// The one table of every RPC the server serves and the role it needs (docs/security.md). A method missing here is
/// refused to everyone (PERMISSION_DENIED), and RoleTableTests fails for it: a new RPC must be given a role here.
/// </summary>
public static class Roles
{
    private static readonly RpcRule Ingest = new(Role.Ingest);
    private static readonly RpcRule Read = new(Role.Read);
    private static readonly RpcRule Admin = new(Role.Admin);
    private static readonly RpcRule Open = new(Role.None);

    public static readonly IReadOnlyDictionary<string, RpcRule> ByMethod = new Dictionary<string, RpcRule>(StringComparer.Ordinal)
    {
        ["/engine.v1.IngestService/Ingest"] = Ingest,
        ["/engine.v1.IngestService/IngestStream"] = Ingest,

        ["/engine.v1.SegmentService/GetCustomer"] = Read,
        ["/engine.v1.SegmentService/BatchGetCustomers"] = Read,
        ["/engine.v1.SegmentService/GetHistory"] = Read,
        ["/engine.v1.SegmentService/ListSegments"] = Read,
        ["/engine.v1.SegmentService/ListRfmSegments"] = Read,
        ["/engine.v1.SegmentService/ListSegmentMembers"] = Read,
        ["/engine.v1.SegmentService/GetTransitionMatrix"] = Read,
        ["/engine.v1.SegmentService/Forecast"] = Read,

        ["/engine.v1.ModelService/Retrain"] = Admin,
        ["/engine.v1.ModelService/GetModel"] = Read,
        ["/engine.v1.ModelService/RenameSegment"] = Admin with { RequestTarget = "segment_id" },
        ["/engine.v1.ModelService/GetDrift"] = Read,
        ["/engine.v1.ModelService/ListModels"] = Read,
        ["/engine.v1.ModelService/CompareModels"] = Read,
        ["/engine.v1.ModelService/Rollback"] = Admin with { RequestTarget = "version" },

        ["/engine.v1.AnalyticsService/GetCohorts"] = Read,

        ["/engine.v1.AlertService/SubscribeMigrations"] = Read,
        ["/engine.v1.AlertService/CreateWebhook"] = Admin with { ResponseTarget = "id" },
        ["/engine.v1.AlertService/ListWebhooks"] = Admin,
        ["/engine.v1.AlertService/DeleteWebhook"] = Admin with { RequestTarget = "id" },
        ["/engine.v1.AlertService/ListDeadLetters"] = Admin with { RequestTarget = "webhook_id" },
        ["/engine.v1.AlertService/RedeliverDeadLetters"] = Admin with { RequestTarget = "webhook_id" },

        // What the server is (version, silos, model, log head): no customer data, and what `engine status` shows a reader.
        ["/engine.v1.AdminService/GetServerInfo"] = Read,
        ["/engine.v1.AdminService/ListQuarantinedEvents"] = Read,
        ["/engine.v1.AdminService/ReplayQuarantinedEvent"] = Admin with { RequestTarget = "log_position" },
        ["/engine.v1.AdminService/DiscardQuarantinedEvent"] = Admin with { RequestTarget = "log_position" },
        ["/engine.v1.AdminService/Backup"] = Admin with { RequestTarget = "directory" },
        ["/engine.v1.AdminService/ListAuditEntries"] = Admin,
        // The customer id must not reach the audit log in clear: the handler sets a salted hash as the target.
        ["/engine.v1.AdminService/EraseCustomer"] = Admin,

        // Probes (Kubernetes' gRPC readiness probe sends no key).
        ["/grpc.health.v1.Health/Check"] = Open,
        ["/grpc.health.v1.Health/Watch"] = Open,
        ["/grpc.health.v1.Health/List"] = Open,
        // The API's schema: the protos are public, but a server with keys tells it only to a key holder.
        ["/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"] = Read,
        ["/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"] = Read,
    };

    /// <summary>Request fields that never reach the audit log: secrets, and ids erasure removes.</summary>
    public static readonly IReadOnlySet<string> Redacted = new HashSet<string>(StringComparer.Ordinal) { "secret", "headers", "customer_id", "customer_ids" };

    /// <summary>The role names of <c>Engine:Auth:Keys:N:Roles</c>, as configured and as documented.</summary>
    public static string NameOf(Role role) => role switch
    {
        Role.Ingest => "ingest",
        Role.Read => "read",
        Role.Admin => "admin",
        _ => "none",
    };

    public static Role? Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "ingest" => Role.Ingest,
        "read" => Role.Read,
        "admin" => Role.Admin,
        _ => null,
    };
}
