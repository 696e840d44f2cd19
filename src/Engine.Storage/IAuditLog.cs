namespace Engine.Storage;

/// <summary>
/// One audited action: who (an API key's name, or <see cref="AuditLog.Anonymous"/>), when (wall clock, UTC), what
/// (the RPC's name), on what (a segment id, a webhook id, …; empty when the action has none) and how it ended
/// (<see cref="AuditLog.Ok"/> or a gRPC status code name). <see cref="Details"/> is the request with its secrets removed.
/// <see cref="Id"/> grows with every entry: newest first is highest id first.
/// </summary>
public sealed record AuditEntry(long Id, DateTime At, string Who, string Action, string Target, string Outcome, string Details);

/// <summary>The audit log: an append-only record of admin actions (docs/security.md, "Audit log").</summary>
public interface IAuditLog
{
    /// <summary>
    /// Appends an entry dated now (wall clock, UTC) and returns its id. <paramref name="target"/> and
    /// <paramref name="details"/> must hold nothing secret and no customer id in clear (erasure records a salted hash).
    /// </summary>
    Task<long> AppendAsync(string who, string action, string target, string details, string outcome = AuditLog.Ok, CancellationToken ct = default);

    /// <summary>Up to <paramref name="limit"/> entries with an id below <paramref name="beforeId"/> (0: from the newest), newest first.</summary>
    Task<AuditEntry[]> ListAsync(long beforeId, int limit, CancellationToken ct = default);
}

public static class AuditLog
{
    /// <summary>The outcome of an action that succeeded.</summary>
    public const string Ok = "OK";

    /// <summary>Who acted when the server runs without API keys.</summary>
    public const string Anonymous = "anonymous";
}
