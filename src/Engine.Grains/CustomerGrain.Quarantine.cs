using Engine.Abstractions;
using Engine.Core;
using Engine.Storage;
using Microsoft.Extensions.Logging;

namespace Engine.Grains;

// An event the customer cannot apply: isolating it from the log tail after a failure, the quarantine, and an
// operator's replay (docs/input-limits.md).
public sealed partial class CustomerGrain
{
    /// <summary>
    /// After applying threw: what this activation holds may be half applied, so the customer starts again from its
    /// checkpoint and applies the log tail batch by batch. A batch that fails again is applied one event at a time, and
    /// each event that still fails goes to the quarantine with its error: the event stays in the ingest log, the customer
    /// moves past it. The quarantine record is written before the checkpoint that moves past the event, so a crash in
    /// between finds the event again and quarantines it again. A failure with no event at fault (none fails on its own)
    /// is simply recovered from. Returns the events applied.
    /// </summary>
    private async Task<int> IsolateAsync(Exception first)
    {
        LogIsolating(services.Logger, first, Id);
        await state.ReadStateAsync();
        TakeProfileFromState();
        (_unpublished, _dirty, _versionAhead, _rowFeatures) = (null, 0, false, null);
        var tail = await services.Log.ReadCustomerTailAsync(Id, state.State.LogPosition);
        await FetchModelsAsync(tail.Events);
        var (applied, held) = (0, new List<QuarantineRecord>());
        foreach (var batch in Batches(tail.Events))
        {
            var before = Snapshot();
            try
            {
                applied += ApplyEvents(batch);
                continue;
            }
            catch (Exception)
            {
                Restore(before);
            }
            foreach (var e in batch)
            {
                var one = Snapshot();
                try
                {
                    applied += ApplyEvents([e]);
                }
                catch (Exception ex)
                {
                    Restore(one);
                    held.Add(new QuarantineRecord(e, ex.Message, services.Clock.WallNow));
                    state.State.LogPosition = Math.Max(state.State.LogPosition, e.LogPosition);
                    (state.State.Quarantined ??= []).Add(e.LogPosition);
                    LogQuarantined(services.Logger, ex, Id, e.LogPosition, e.EventId);
                }
            }
        }
        _coveredThrough = Math.Max(_coveredThrough, tail.Head);
        if (held.Count > 0)
        {
            await services.Quarantine.AddAsync(held);
            EngineMetrics.EventsQuarantined.Inc(held.Count);
            await CheckpointAsync();
        }
        return applied;
    }

    /// <summary>Consecutive runs of events of one ingest batch (same as_of), as <see cref="ApplyEvents"/> groups them.</summary>
    private static IEnumerable<LoggedEvent[]> Batches(LoggedEvent[] events)
    {
        var start = 0;
        for (var i = 1; i <= events.Length; i++)
        {
            if (i == events.Length || events[i].AsOf != events[start].AsOf)
            {
                yield return events[start..i];
                start = i;
            }
        }
    }

    /// <summary>Everything applying can change, to go back to when it throws half way.</summary>
    private sealed record Saved(byte[] Profile, long LogPosition, string SegmentId, long ModelVersion, TransitionRecord[] History,
        long TransitionCount, DateTime AssignedAt, TransitionRecord[]? Unpublished, int Dirty, string? RfmSegmentId);

    private Saved Snapshot()
    {
        var s = state.State;
        return new Saved(_profile.ToBytes(), s.LogPosition, s.SegmentId, s.ModelVersion, [.. s.History], s.TransitionCount, s.AssignedAt,
            _unpublished?.ToArray(), _dirty, s.RfmSegmentId);
    }

    private void Restore(Saved saved)
    {
        _profile = CustomerProfile.FromBytes(saved.Profile);
        var s = state.State;
        (s.LogPosition, s.SegmentId, s.ModelVersion, s.TransitionCount, s.AssignedAt, s.RfmSegmentId) =
            (saved.LogPosition, saved.SegmentId, saved.ModelVersion, saved.TransitionCount, saved.AssignedAt, saved.RfmSegmentId);
        s.History = [.. saved.History];
        _unpublished = saved.Unpublished is null ? null : [.. saved.Unpublished];
        (_dirty, _rowFeatures) = (saved.Dirty, null);
    }

    /// <summary>
    /// Applies a quarantined event now (an operator's replay), assigned at the engine clock as an EVENT move. Null when
    /// the customer does not hold that event (replayed already, or never quarantined here): replaying twice applies once.
    /// If it fails again the customer stays as it was and the error is thrown.
    /// </summary>
    public async Task<ApplyResult?> ReplayQuarantinedAsync(LoggedEvent e)
    {
        WithdrawLookup();
        if (state.State.Quarantined?.Contains(e.LogPosition) != true)
        {
            return null;
        }
        var before = Snapshot();
        try
        {
            services.Fault?.Check(e);
            _profile.Apply(e.Kind, e.OccurredAt, e.Amount, e.Category);
            var now = AssignmentRules.ReassignAt(services.Clock.AppliedNow, state.State.AssignedAt);
            Assign(await CurrentOrOwnModelAsync(), now, now, TransitionCause.Event);
        }
        catch
        {
            Restore(before);
            throw;
        }
        state.State.Quarantined.Remove(e.LogPosition);
        state.State.Quarantined = state.State.Quarantined.Count == 0 ? null : state.State.Quarantined;
        _dirty++;
        await CheckpointMoveAsync();
        return Result(1);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Customer {CustomerId} failed to apply its events; applying its log tail event by event to isolate the cause")]
    private static partial void LogIsolating(ILogger logger, Exception exception, string customerId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Customer {CustomerId}: event {LogPosition} ({EventId}) cannot be applied; quarantined, the customer moves on")]
    private static partial void LogQuarantined(ILogger logger, Exception exception, string customerId, long logPosition, string eventId);
}
