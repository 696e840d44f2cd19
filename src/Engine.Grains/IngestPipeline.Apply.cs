using System.Diagnostics;
using System.Threading.Channels;
using Engine.Abstractions;
using Microsoft.Extensions.Logging;

namespace Engine.Grains;

// The apply and publish stages: each customer applies its events with one call, outcomes are published in commit order and requests answered; customers that fail catch up from the log (lagging).
public sealed partial class IngestPipeline
{
    private async Task ApplyLoopAsync(ChannelReader<Committed> committed)
    {
        await foreach (var c in committed.ReadAllAsync())
        {
            await _turn.WaitAsync(CancellationToken.None);
            var handedOff = false;
            try
            {
                if (c.AppendFailure is { } failure)
                {
                    _lagging.UnionWith(c.PerCustomer.Keys);
                    Fail(c.Batch, failure);
                    continue;
                }
                // In event-time mode silence is swept up to this batch's earliest event before its events apply.
                if (clock.IsEventTime)
                {
                    await TrySweepAsync(c.SweepTo);
                }
                List<ApplyResult> results;
                int incomplete;
                using (var span = EngineTracing.StartBatch("engine.ingest.apply", c.Traces))
                {
                    span?.SetTag("engine.customers", c.PerCustomer.Count);
                    (results, incomplete) = await ApplyAsync(c.PerCustomer, c.CompleteAfter, c.MaxSeq);
                }
                clock.Applied(c.AsOf);
                // Publishing (transition log, shard rows) overlaps the next batch's grain calls; batches publish and
                // are acknowledged in order.
                _published = PublishThenAcknowledgeAsync(c, results, incomplete, _published);
                handedOff = true;
                // At the end of a stream (nothing queued behind this batch) silence is judged up to this batch's time
                // now, not when the next event comes, which after an import may be never.
                if (clock.IsEventTime && committed.Count == 0 && _queue.Reader.Count == 0 && Volatile.Read(ref _committing) == 0)
                {
                    await TrySweepAsync(c.AsOf);
                }
            }
            catch (Exception ex)
            {
                // Whatever failed, these customers may not have the batch: they catch up from the log, and the
                // checkpoint holds until they have.
                foreach (var id in c.PerCustomer.Keys)
                {
                    _lagging.Add(id);
                }
                Fail(c.Batch, ex);
            }
            finally
            {
                if (!handedOff)
                {
                    Interlocked.Decrement(ref _unapplied);
                }
                _turn.Release();
            }
        }
        await _published;
    }

    /// <summary>
    /// Publishes a batch's outcomes after the previous batch's, then acknowledges it (or fails it: the events are durable,
    /// but some customers must catch up). Runs outside the pipeline's turn, so it reports failed customers through
    /// <see cref="_publishFailures"/>; never throws. Whatever takes the turn to checkpoint, sweep or replay awaits it
    /// first.
    /// </summary>
    private async Task PublishThenAcknowledgeAsync(Committed c, List<ApplyResult> results, int incomplete, Task previous)
    {
        try
        {
            await previous;
            using var span = EngineTracing.StartBatch("engine.ingest.publish", c.Traces);
            var lagging = 0;
            var published = await TryPublishAsync(results, id =>
            {
                _publishFailures.Enqueue(id);
                lagging++;
            });
            if (published && incomplete == 0)
            {
                if (c.MaxSeq > 0)
                {
                    Volatile.Write(ref _lastApplied, c.MaxSeq);
                }
                Acknowledge(c);
            }
            else
            {
                Fail(c.Batch, new EventsNotAppliedException(incomplete + lagging));
            }
        }
        catch (Exception ex)
        {
            // Not expected (publishing reports its own failures), but a fault here must neither leave the batch
            // unanswered nor stop every later batch, which awaits this one.
            foreach (var r in results)
            {
                if (r.Row is { } row)
                {
                    _publishFailures.Enqueue(row.CustomerId);
                }
            }
            Fail(c.Batch, ex);
        }
        finally
        {
            Interlocked.Decrement(ref _unapplied);
        }
    }

    /// <summary>Moves customers whose outcomes failed to publish into the lagging set (under the turn).</summary>
    private void TakePublishFailures()
    {
        while (_publishFailures.TryDequeue(out var id))
        {
            _lagging.Add(id);
        }
    }

    private void Acknowledge(Committed c)
    {
        var offset = 0;
        foreach (var work in c.Batch)
        {
            var accepted = 0;
            var last = 0L;
            for (var i = 0; i < work.Events.Count; i++)
            {
                var seq = c.Seqs[offset + i];
                if (seq > 0)
                {
                    accepted++;
                    last = Math.Max(last, seq);
                }
            }
            offset += work.Events.Count;
            EngineMetrics.EventsAccepted.Inc(accepted);
            EngineMetrics.EventsDuplicate.Inc(work.Events.Count - accepted);
            if (work.Done.TrySetResult(new IngestOutcome(accepted, work.Events.Count - accepted, last)))
            {
                _admission.Exit(work.Events.Count);
            }
        }
        EngineMetrics.BatchEvents.Observe(c.Events);
        EngineMetrics.BatchSeconds.Observe(Stopwatch.GetElapsedTime(c.Started).TotalSeconds);
    }

    private void Fail(List<Work> batch, Exception ex)
    {
        LogBatchFailed(logger, ex, batch.Sum(w => w.Events.Count));
        foreach (var work in batch)
        {
            if (work.Done.TrySetException(ex))
            {
                _admission.Exit(work.Events.Count);
            }
        }
    }

    /// <summary>
    /// One call per customer, all in parallel; a failed customer is retried by catching up from the log. Returns the
    /// outcomes to publish and how many of the batch's own customers failed for good (those lagging from earlier batches
    /// are called again, but do not count).
    /// </summary>
    private async Task<(List<ApplyResult> Results, int Incomplete)> ApplyAsync(Dictionary<string, List<LoggedEvent>> perCustomer, long completeAfter, long through)
    {
        // Customers that failed before catch up from the log (a delivery would skip what they missed). Only the batch's
        // own customers decide its answer (see below), so those that join the calls without being in it are noted.
        TakePublishFailures();
        HashSet<string>? notInBatch = null;
        foreach (var id in _lagging)
        {
            if (!perCustomer.ContainsKey(id))
            {
                (notInBatch ??= new HashSet<string>(StringComparer.Ordinal)).Add(id);
            }
            perCustomer[id] = [];
        }
        var ids = perCustomer.Keys.ToArray();
        // Every call is sent before the first is awaited. Awaited as they are, without a Task each (a Task per call
        // and its wrapper were about 5% of the server's allocations at full ingest).
        var calls = new ValueTask<ApplyResult>[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            var events = perCustomer[ids[i]];
            calls[i] = events.Count == 0
                ? new ValueTask<ApplyResult>(customers.RecoverAsync(ids[i]))
                : customers.Get(ids[i]).ApplyAsync(new Delivery(events.ToArray(), completeAfter, through));
        }

        var results = new List<ApplyResult>(ids.Length);
        var failed = new List<string>();
        for (var i = 0; i < ids.Length; i++)
        {
            try
            {
                results.Add(await calls[i]);
                _lagging.Remove(ids[i]);
            }
            catch
            {
                // Retried below by catching up from the log, which logs the failure if it persists.
                failed.Add(ids[i]);
            }
        }
        // Retried all at once: one at a time, a few stuck customers would hold every batch behind them (the turn is held).
        var retried = await Task.WhenAll(failed.Select(id => RetryAsync(id, "ingest")));
        var incomplete = 0;
        for (var i = 0; i < failed.Count; i++)
        {
            if (retried[i] is { } recovered)
            {
                results.Add(recovered);
                _lagging.Remove(failed[i]);
            }
            else
            {
                _lagging.Add(failed[i]);
                // Only this batch's own customers decide its answer: a customer still lagging from an earlier batch (a
                // checkpoint it cannot read, say) must not fail every batch after it.
                incomplete += notInBatch?.Contains(failed[i]) == true ? 0 : 1;
            }
        }
        return (results, incomplete);
    }

    /// <summary>
    /// Publishes outcomes; when that fails (a shard's silo just died), the customers count as lagging (passed to
    /// <paramref name="lagging"/>), so their rows are published again and the checkpoint does not pass them meanwhile.
    /// </summary>
    private async Task<bool> TryPublishAsync(List<ApplyResult> results, Action<string> lagging)
    {
        try
        {
            await publisher.PublishAsync(results);
            return true;
        }
        catch (Exception ex)
        {
            LogPublishFailed(logger, ex, results.Count);
            foreach (var r in results)
            {
                if (r.Row is { } row)
                {
                    lagging(row.CustomerId);
                }
            }
            return false;
        }
    }

    /// <summary>Customers that failed to apply catch up between batches too, so an idle silo does not leave them behind.</summary>
    private async Task CatchUpLaggingAsync()
    {
        TakePublishFailures();
        var results = new List<ApplyResult>();
        foreach (var id in _lagging.ToArray())
        {
            try
            {
                results.Add(await customers.RecoverAsync(id));
                _lagging.Remove(id);
            }
            catch (Exception ex)
            {
                LogApplyRetry(logger, ex, id, 0);
            }
        }
        await TryPublishAsync(results, id => _lagging.Add(id));
    }

    /// <summary>
    /// A customer's recovery, tried <see cref="ApplyAttempts"/> times; null when every attempt failed, which is counted
    /// under <paramref name="path"/> (the customer is then the caller's to leave lagging).
    /// </summary>
    private async Task<ApplyResult?> RetryAsync(string customerId, string path)
    {
        for (var attempt = 1; attempt <= ApplyAttempts; attempt++)
        {
            try
            {
                return await customers.RecoverAsync(customerId);
            }
            catch (Exception ex)
            {
                LogApplyRetry(logger, ex, customerId, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(50 * attempt));
            }
        }
        EngineMetrics.CustomerFailures.WithLabels(path).Inc();
        return null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Publishing {Customers} customers' outcomes failed; they are published again from the log")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception, int customers);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Customer {CustomerId} failed to apply its events (attempt {Attempt})")]
    private static partial void LogApplyRetry(ILogger logger, Exception exception, string customerId, int attempt);
}
