using System.Security.Cryptography;
using System.Text;
using Engine.Storage;

namespace Engine.Server.Grpc;

/// <summary>
/// What an erasure leaves behind about the customer: only a salted hash of its id (HMAC-SHA256 keyed by a per-store
/// salt), so an operator holding an id can show it was erased, but the record alone does not name anyone: the target
/// of the erasure's audit-log entry, and a structured log line.
/// </summary>
public sealed partial class ErasureAudit(IMetaStore meta, ILogger<ErasureAudit> logger)
{
    /// <summary>The engine_meta key of the store's random salt, made by the first erasure.</summary>
    public const string SaltKey = "erasure_salt";

    /// <summary>The salted hash of a customer id, lowercase hex.</summary>
    public async Task<string> HashAsync(string customerId, CancellationToken ct)
    {
        var salt = await meta.GetMetaAsync(SaltKey, ct);
        if (salt == 0)
        {
            salt = BitConverter.ToInt64(RandomNumberGenerator.GetBytes(8));
            await meta.SetMetaAsync(SaltKey, salt, ct);
            // Two silos erasing at once for the first time: both take what was stored last.
            salt = await meta.GetMetaAsync(SaltKey, ct);
        }
        return Convert.ToHexStringLower(HMACSHA256.HashData(BitConverter.GetBytes(salt), Encoding.UTF8.GetBytes(customerId)));
    }

    /// <summary>Logs an erasure by the id's salted hash, and returns the hash (the audit entry's target).</summary>
    public async Task<string> RecordAsync(string customerId, ErasedRows rows, CancellationToken ct)
    {
        var hash = await HashAsync(customerId, ct);
        LogErased(logger, hash, rows.Events, rows.Transitions, rows.DeadLetters, rows.Quarantined);
        return hash;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Erased customer {CustomerIdHash}: {Events} events, {Transitions} transitions, {DeadLetters} dead letters, {Quarantined} quarantined events")]
    private static partial void LogErased(ILogger logger, string customerIdHash, long events, long transitions, long deadLetters, long quarantined);
}
