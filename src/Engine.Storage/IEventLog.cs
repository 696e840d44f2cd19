using Engine.Core;
using Engine.Abstractions;

namespace Engine.Storage;

/// <summary>An event validated at the edge, waiting to be appended to the ingest log.</summary>
public sealed record PendingEvent(
    string EventId, string CustomerId, EventKind Kind, DateTime OccurredAt, double Amount, string? Category, string? AttributesJson);

/// <summary>
/// Which transitions a subscriber wants; an empty set (or null) means any. (The API's filters mean LEARNED by no
/// kinds: <see cref="SegmentKinds.Requested"/> says which they ask for.) A segment is named by its id or by its name
/// when the transition happened, compared as the sets compare (the alert feed's ignore case).
/// </summary>
public sealed record TransitionFilter(
    IReadOnlyCollection<string> From, IReadOnlyCollection<string> To, IReadOnlyCollection<TransitionCause> Causes,
    IReadOnlyCollection<SegmentKind>? Kinds = null)
{
    public static readonly TransitionFilter Any = new([], [], []);

    public bool Matches(TransitionRecord t) =>
        (Kinds is not { Count: > 0 } || Kinds.Contains(t.Kind))
        && (From.Count == 0 || From.Contains(t.FromSegmentId) || (t.FromSegmentName is { } f && From.Contains(f)))
        && (To.Count == 0 || To.Contains(t.ToSegmentId) || (t.ToSegmentName is { } n && To.Contains(n)))
        && (Causes.Count == 0 || Causes.Contains(t.Cause));
}

/// <summary>One page of the transition log: the matching transitions and how far the scan got.</summary>
public sealed record TransitionPage(LoggedTransition[] Items, long LastScanned);

/// <summary>A webhook subscription; <see cref="DeliveredAfter"/> is where its deliveries resume.</summary>
/// <summary>
/// A webhook: where and how it delivers (<see cref="Format"/>, extra <see cref="HeadersJson"/>, up to
/// <see cref="MaxBatch"/> alerts a POST, waiting up to <see cref="MaxWait"/> to fill one), how far it is, and its
/// delivery state.
/// </summary>
public sealed record WebhookRecord(string Id, string Url, string Secret, string FilterJson, long DeliveredAfter, DateTime CreatedAt,
    DateTime? PausedUntil = null, DateTime? LastSuccessAt = null, string? LastError = null,
    string Format = "engine", string? HeadersJson = null, int MaxBatch = 1, TimeSpan MaxWait = default);

/// <summary>An alert a webhook could not take after every attempt.</summary>
public sealed record DeadLetter(string WebhookId, long Cursor, int Attempts, string LastError, string Body, DateTime FailedAt);

/// <summary>The end of the ingest log; the times are null on an empty log.</summary>
public readonly record struct LogHead(long MaxSeq, DateTime? MaxOccurredAt, DateTime? MaxAsOf);

/// <summary>
/// What an append wrote: per event its log position (0 for a duplicate), the highest position in the log just before
/// it, and the batch time it was stored with. Appends are serialized, so everything in (<see cref="Before"/>, max of
/// <see cref="Seqs"/>] is this append's, and <see cref="AsOf"/> is later than every earlier append's (silos' clocks
/// differ; a replay groups a customer's events by it, so no two appends may share it).
/// </summary>
public sealed record AppendResult(long[] Seqs, long Before, DateTime AsOf);

/// <summary>
/// A customer's events after some position, and the log head the read saw: every event up to it is included. With
/// <see cref="IIngestLog.ReadRecoveryTailAsync"/>, also its moves by silence after some transition number.
/// </summary>
public sealed record CustomerTail(LoggedEvent[] Events, long Head, TransitionRecord[]? Moves = null);

/// <summary>A count of moves from one segment to another ("" = first assignment).</summary>
public readonly record struct TransitionCount(string From, string To, long Count);

/// <summary>
/// All of Engine's own stores in one database: the ingest log, the transition log, webhooks and meta values. Each
/// consumer takes the narrow interface of the store it uses; both implementations keep the four in one database.
/// </summary>
public interface IEventLog : IIngestLog, ITransitionLog, IWebhookStore, IMetaStore;

/// <summary>The ingest log: every accepted event, in log order, the source of truth. An event is acknowledged once <see cref="AppendAsync"/> has committed it.</summary>
public interface IIngestLog
{
    /// <summary>
    /// Appends events in one transaction. Returns, per event, its log position, or 0 when the log already has an event
    /// with its (customer_id, event_id) (a duplicate, including a repeat inside the same batch). Appends from all silos commit in position
    /// order: once position N is visible, no smaller one can appear later. The batch is stored as of
    /// <paramref name="asOf"/>, or a tick after the previous append's if that is not later, and stamped with
    /// <paramref name="modelVersion"/>, the model the appending silo had (0: none yet), which a replay assigns it under.
    /// </summary>
    Task<AppendResult> AppendAsync(IReadOnlyList<PendingEvent> events, DateTime asOf, long modelVersion, CancellationToken ct = default);

    /// <summary>A customer's events after log position <paramref name="afterSeq"/>, in log order, with the head the read saw.</summary>
    Task<CustomerTail> ReadCustomerTailAsync(string customerId, long afterSeq, CancellationToken ct = default);

    /// <summary>
    /// What an activation re-applies: <see cref="ReadCustomerTailAsync"/>, and the customer's moves by silence numbered
    /// above <paramref name="afterNumber"/> (those with a log position), in number order, in <see cref="CustomerTail.Moves"/>.
    /// </summary>
    Task<CustomerTail> ReadRecoveryTailAsync(string customerId, long afterSeq, long afterNumber, CancellationToken ct = default);

    /// <summary>The events of these customers with positions in (<paramref name="afterSeq"/>, <paramref name="throughSeq"/>], in log order.</summary>
    Task<LoggedEvent[]> ReadCustomersAsync(IReadOnlyCollection<string> customerIds, long afterSeq, long throughSeq, CancellationToken ct = default);

    /// <summary>Customers with events after <paramref name="afterSeq"/> (for crash recovery).</summary>
    Task<string[]> CustomersAfterAsync(long afterSeq, CancellationToken ct = default);

    /// <summary>
    /// The end of the log: highest position, latest occurred_at (the event-time watermark) and latest batch as_of. Reads
    /// the whole log for the watermark: for start-up only.
    /// </summary>
    Task<LogHead> GetHeadAsync(CancellationToken ct = default);

    /// <summary>The highest log position (0 if empty); one index lookup, for the periodic checkpoint.</summary>
    Task<long> GetHeadSeqAsync(CancellationToken ct = default);
}

/// <summary>The transition log: every segment change once; its id is the alert cursor.</summary>
public interface ITransitionLog
{
    /// <summary>
    /// Writes transitions; ones already written (same customer and number) are ignored. Returns those it wrote, so a
    /// transition handed over again (a recovery, a retried write) is counted once.
    /// </summary>
    Task<IReadOnlyList<TransitionRecord>> AppendTransitionsAsync(IReadOnlyList<TransitionRecord> transitions, CancellationToken ct = default);

    /// <summary>Moves grouped by (from, to) with <c>at</c> in [from, to), optionally of one model version and some causes.</summary>
    Task<TransitionCount[]> CountTransitionsAsync(DateTime? from, DateTime? to, long? modelVersion = null,
        IReadOnlyCollection<TransitionCause>? causes = null, CancellationToken ct = default);

    /// <summary>
    /// Scans up to <paramref name="limit"/> transitions after cursor <paramref name="after"/> in cursor order and returns
    /// those matching the filter, with the last cursor scanned (where the next page starts).
    /// </summary>
    Task<TransitionPage> ReadTransitionsAsync(long after, int limit, TransitionFilter filter, CancellationToken ct = default);

    /// <summary>The newest cursor (0 when the log is empty).</summary>
    Task<long> LastCursorAsync(CancellationToken ct = default);

    /// <summary>
    /// Whether the customer has a transition of <paramref name="kind"/> numbered after <paramref name="number"/> dated
    /// before <paramref name="before"/> (flapping; a move of the other kind is no move out of the segment). By the
    /// customer's own numbering, not the cursor: a rollout logs its round's moves after the round, so a customer's next
    /// move (from ingest) can reach the log first, with the smaller cursor.
    /// </summary>
    Task<bool> MovedAgainAsync(string customerId, long number, DateTime before, SegmentKind kind, CancellationToken ct = default);
}

/// <summary>Webhook subscriptions, where each one's deliveries resume, and the alerts it could not take (dead letters).</summary>
public interface IWebhookStore
{
    Task CreateWebhookAsync(WebhookRecord webhook, CancellationToken ct = default);

    Task<WebhookRecord[]> ListWebhooksAsync(CancellationToken ct = default);

    /// <summary>Removes a webhook; false when there is none with that id.</summary>
    Task<bool> DeleteWebhookAsync(string id, CancellationToken ct = default);

    /// <summary>
    /// Records that a webhook is done with everything up to <paramref name="cursor"/>; with <paramref name="deliveredAt"/>
    /// (the receiver took it) also its last success, and it is no longer paused nor failing.
    /// </summary>
    Task AdvanceWebhookAsync(string id, long cursor, DateTime? deliveredAt, CancellationToken ct = default);

    /// <summary>Records a failed delivery: the error, and until when delivery waits (null: it is not paused).</summary>
    Task RecordWebhookFailureAsync(string id, string error, DateTime? pausedUntil, CancellationToken ct = default);

    /// <summary>Replaces a webhook's filter (a rename rewrites the segment names in it).</summary>
    Task UpdateWebhookFilterAsync(string id, string filterJson, CancellationToken ct = default);

    /// <summary>Removes a webhook's dead letters at these cursors (a redelivery took them).</summary>
    Task RemoveDeadLettersAsync(string webhookId, IReadOnlyCollection<long> cursors, CancellationToken ct = default);

    Task AddDeadLetterAsync(DeadLetter letter, CancellationToken ct = default);

    Task<DeadLetter[]> ListDeadLettersAsync(string? webhookId, CancellationToken ct = default);
}

/// <summary>Small durable numbers: the cluster's checkpoint position, each silo's applied position, the store's settings.</summary>
public interface IMetaStore
{
    /// <summary>A small durable number, e.g. the log position covered by the last shard checkpoint.</summary>
    Task<long> GetMetaAsync(string key, CancellationToken ct = default);

    Task SetMetaAsync(string key, long value, CancellationToken ct = default);

    /// <summary>Every meta value whose key starts with <paramref name="prefix"/>.</summary>
    Task<Dictionary<string, long>> ListMetaAsync(string prefix, CancellationToken ct = default);

    Task DeleteMetaAsync(string key, CancellationToken ct = default);
}
