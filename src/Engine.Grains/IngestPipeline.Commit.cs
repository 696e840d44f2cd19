using System.Diagnostics;
using Engine.Abstractions;
using Engine.Storage;
using Microsoft.Extensions.Logging;

namespace Engine.Grains;

// The commit stage: a batch of queued requests becomes one append to the ingest log, with what each customer must be delivered.
public sealed partial class IngestPipeline
{
    /// <summary>A committed batch on its way to being applied.</summary>
    private sealed record Committed(List<Work> Batch, long[] Seqs, DateTime AsOf, DateTime SweepTo, Dictionary<string, List<LoggedEvent>> PerCustomer,
        long CompleteAfter, long MaxSeq, long Started, int Events, Exception? AppendFailure = null)
    {
        /// <summary>The traces of the batch's requests, first one first (empty when tracing is off).</summary>
        public IReadOnlyList<ActivityContext> Traces { get; init; } = [];
    }

    private static IReadOnlyList<ActivityContext> TracesOf(List<Work> batch) =>
        EngineTracing.Source.HasListeners() ? batch.Select(w => w.Trace).ToArray() : [];

    private async Task<Committed> CommitAsync(List<Work> batch)
    {
        var started = Stopwatch.GetTimestamp();
        var events = batch.Count == 1 ? batch[0].Events : batch.SelectMany(w => w.Events).ToArray();
        var earliest = DateTime.MaxValue;
        foreach (var e in events)
        {
            clock.Observe(e.OccurredAt);
            earliest = e.OccurredAt < earliest ? e.OccurredAt : earliest;
        }
        // Each batch gets its own as_of (a tick later than the last if the clock has not moved): replays group by it.
        var asOf = clock.Now;
        if (asOf <= _lastBatchAsOf)
        {
            asOf = _lastBatchAsOf.AddTicks(1);
        }
        _lastBatchAsOf = asOf;
        // The model these events will be assigned under, logged with them so a replay uses it too (see CustomerGrain).
        var modelVersion = replica.Current?.Version ?? 0;
        Interlocked.Increment(ref _unapplied);
        AppendResult appended;
        var traces = TracesOf(batch);
        try
        {
            using var span = EngineTracing.StartBatch("engine.ingest.append", traces);
            span?.SetTag("engine.events", events.Count);
            appended = await log.AppendAsync(events, asOf, modelVersion);
        }
        catch (Exception ex)
        {
            // The commit may have happened with only its answer lost: the client gets the error and a retry would find
            // the events as duplicates, so their customers must read them from the log. The apply loop marks them lagging,
            // which also holds the checkpoint until they have.
            var unsure = new Dictionary<string, List<LoggedEvent>>(StringComparer.Ordinal);
            foreach (var e in events)
            {
                unsure.TryAdd(e.CustomerId, []);
            }
            return new Committed(batch, [], asOf, asOf, unsure, 0, 0, started, events.Count, ex) { Traces = traces };
        }
        var seqs = appended.Seqs;
        asOf = appended.AsOf;
        _lastBatchAsOf = asOf;

        // Sized up front, and one event per customer by default: a batch spreads over about as many customers as it
        // has events, and growing the map and lists was a tenth of the server's allocations at full ingest.
        var perCustomer = new Dictionary<string, List<LoggedEvent>>(seqs.Length, StringComparer.Ordinal);
        var maxSeq = 0L;
        for (var i = 0; i < seqs.Length; i++)
        {
            if (seqs[i] == 0)
            {
                continue;
            }
            var e = events[i];
            if (!perCustomer.TryGetValue(e.CustomerId, out var list))
            {
                perCustomer[e.CustomerId] = list = new List<LoggedEvent>(1);
            }
            list.Add(new LoggedEvent(seqs[i], e.EventId, e.CustomerId, e.Kind, e.OccurredAt, e.Amount, e.Category, asOf, modelVersion));
            maxSeq = Math.Max(maxSeq, seqs[i]);
        }
        var (completeAfter, readBack) = _coverage.Appended(appended.Before, maxSeq, Stopwatch.GetTimestamp());
        if (readBack && perCustomer.Count > 0 && !await TryReadBackAsync(perCustomer, completeAfter, appended.Before))
        {
            // Promise only this batch: a customer that may have missed another silo's events reads its own tail.
            completeAfter = appended.Before;
        }
        // A batch can span days of event time (an import's requests are thousands of events): the sweep before it goes
        // only to its earliest event, so a customer's purchase inside it is applied before silence is judged past it.
        var sweepTo = earliest < asOf ? earliest : asOf;
        return new Committed(batch, seqs, asOf, sweepTo, perCustomer, completeAfter, maxSeq, started, events.Count) { Traces = traces };
    }

    /// <summary>Puts the customers' events in (after, through] (other silos' appends among them) in front of this batch's.</summary>
    private async Task<bool> TryReadBackAsync(Dictionary<string, List<LoggedEvent>> perCustomer, long after, long through)
    {
        try
        {
            var earlier = await log.ReadCustomersAsync(perCustomer.Keys, after, through);
            foreach (var group in earlier.GroupBy(e => e.CustomerId, StringComparer.Ordinal))
            {
                perCustomer[group.Key].InsertRange(0, group);
            }
            EngineMetrics.ReadBackEvents.Inc(earlier.Length);
            return true;
        }
        catch (Exception ex)
        {
            // The batch is committed; it must go on to be applied, so this is not the batch's failure.
            LogReadBackFailed(logger, ex);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading other silos' events for a batch failed; its customers read their own tails")]
    private static partial void LogReadBackFailed(ILogger logger, Exception exception);
}
