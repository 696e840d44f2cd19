namespace Engine.Abstractions;

/// <summary>
/// One customer: live features, current segment and recent transitions. Keyed by customer id. Its state is a
/// checkpoint plus the tail of the ingest log after it, replayed on activation.
/// </summary>
[Alias("engine.ICustomerGrain")]
public interface ICustomerGrain : IGrainWithStringKey
{
    /// <summary>
    /// Applies a delivery of logged events (already durable) in log order; ones already applied are skipped. A grain
    /// that has not applied everything up to the delivery's <see cref="Delivery.CompleteAfter"/> reads its log tail instead.
    /// A ValueTask, like <see cref="GetAsync"/>: these are the calls made per event and per lookup, and a caller that
    /// awaits the answer directly needs no Task for it (nor does the grain, which mostly answers synchronously).
    /// </summary>
    [Alias("Apply")]
    ValueTask<ApplyResult> ApplyAsync(Delivery delivery);

    /// <summary>The live view, or null for a customer with no events.</summary>
    [Alias("Get")]
    ValueTask<CustomerView?> GetAsync();

    /// <summary>The last <paramref name="limit"/> transitions, newest first (0 = all retained).</summary>
    [Alias("GetHistory")]
    Task<TransitionRecord[]> GetHistoryAsync(int limit);

    /// <summary>Reassigns against model <paramref name="modelVersion"/> (or newer); records a RETRAIN transition if the segment changes.</summary>
    [Alias("Reassign")]
    Task<ApplyResult> ReassignAsync(long modelVersion);

    /// <summary>
    /// Re-evaluates the segment at <paramref name="at"/> with nothing new but time passing; records an INACTIVITY
    /// transition dated <paramref name="at"/> if the segment changes. Ignored for a time before the last event.
    /// </summary>
    [Alias("Sweep")]
    Task<ApplyResult> SweepAsync(DateTime at);

    /// <summary>Activates (replaying the log tail) and returns the current shard row, for crash recovery.</summary>
    [Alias("Recover")]
    Task<ApplyResult> RecoverAsync();

    /// <summary>
    /// Applies one of this customer's quarantined events now (an operator's replay); null when the customer does not
    /// hold it (replayed already). Throws, leaving the customer as it was, when the event still cannot be applied.
    /// </summary>
    [Alias("ReplayQuarantined")]
    Task<ApplyResult?> ReplayQuarantinedAsync(LoggedEvent e);

    /// <summary>Writes the checkpoint now if anything changed since the last one.</summary>
    [Alias("Checkpoint")]
    Task CheckpointAsync();

    /// <summary>
    /// Activates (catching up on the log) and writes the checkpoint if it lacks events this customer applied, so its
    /// checkpoint covers every log row of its own: log retention asks before it deletes a customer's rows.
    /// </summary>
    [Alias("CheckpointIfBehind")]
    Task CheckpointIfBehindAsync();

    /// <summary>
    /// Erasure: deletes the stored state (the checkpoint row, which names the customer), forgets everything in memory
    /// and deactivates without saving. The next call activates a new customer from what the log still holds of it.
    /// </summary>
    [Alias("Erase")]
    Task EraseAsync();
}
