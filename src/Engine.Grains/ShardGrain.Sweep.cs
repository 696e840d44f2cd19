using System.Diagnostics;
using Engine.Abstractions;
using Microsoft.Extensions.Logging;

namespace Engine.Grains;

// The inactivity sweep over the rows (IShardSweep) and the schedule it follows.
public sealed partial class ShardGrain
{
    /// <summary>
    /// Rounds one sweep takes at most. A customer looked at is due again no sooner than its next boundary (or a sweep
    /// interval later), so when time has jumped past several of its boundaries (an import in event time) each round
    /// takes the next one, dated when it was crossed; the rest wait for the next sweep. Bounded by rounds, and by time
    /// under the caller's call timeout, because the shard (and in event time the ingest pipeline) waits for the sweep.
    /// Not tighter: what a sweep leaves waits for the next sweep, which after an import in event time is the settling
    /// sweep's, a few seconds later (IngestPipeline.SettleAsync; deploy/bench/HISTORY.md, "Behind the code").
    /// </summary>
    private const int MaxSweepRounds = 64;

    private static readonly TimeSpan SweepTimeBudget = TimeSpan.FromSeconds(20);

    public async Task<int> SweepAsync(DateTime now)
    {
        if (models.Current is not { } model || CurrentSchedule() is not { } schedule)
        {
            return 0;
        }
        var moved = 0;
        var started = Stopwatch.GetTimestamp();
        for (var round = 0; round < MaxSweepRounds && (round == 0 || Stopwatch.GetElapsedTime(started) < SweepTimeBudget); round++)
        {
            var due = schedule.TakeDue(model, now);
            if (due.Count == 0)
            {
                break;
            }
            if (_rollout.RollingOut(Stopwatch.GetTimestamp()))
            {
                // Due again as they were, for the next sweep (one round while a rollout runs, or they would come back
                // every round), unless the rollout's row reschedules them first. Not a sweep interval later: after an
                // import the next sweep may be at this same time (IngestPipeline.SettleAsync).
                var free = new List<(int Row, DateTime At)>(due.Count);
                foreach (var d in due)
                {
                    if (_rollout.Holds(_rows.IdAt(d.Row)))
                    {
                        schedule.Again(d.Row, d.At);
                    }
                    else
                    {
                        free.Add(d);
                    }
                }
                moved += await SweepRoundAsync(model, schedule, free);
                break;
            }
            moved += await SweepRoundAsync(model, schedule, due);
        }
        return moved;
    }

    /// <summary>Asks the due customers to sweep, in parallel chunks, and schedules each again from its answer.</summary>
    private async Task<int> SweepRoundAsync(ModelSnapshot model, InactivitySchedule schedule, List<(int Row, DateTime At)> due)
    {
        var moved = 0;
        Task? failed = null;
        foreach (var chunk in due.Chunk(CustomerRounds.Parallelism))
        {
            var (results, roundMoved, roundFailed) = await CustomerRounds.AskRoundAsync(chunk,
                d => customerGrains.Get(_rows.IdAt(d.Row)).SweepAsync(d.At), d => customerGrains.RecoverAsync(_rows.IdAt(d.Row)),
                writes);
            for (var k = 0; k < results.Length; k++)
            {
                var i = results[k]?.Row is { } row ? _rows.UpsertAndIndex(row) : chunk[k].Row;
                // Look again no sooner than one sweep interval after this look; a customer that failed is looked at again then.
                schedule.Schedule(i, model, results[k]?.Row?.AsOf > chunk[k].At ? results[k]!.Row!.AsOf : chunk[k].At, looked: true);
            }
            // The customers write their moves' rows themselves (CustomerGrain.PublishMovesAsync) and count the learned ones.
            moved += roundMoved + results.Sum(r => r?.Moved ?? 0);
            failed ??= roundFailed;
        }
        _dirty |= due.Count > 0;
        if (failed is not null)
        {
            // Every round ran and every customer is scheduled again; the caller hears of the first failure.
            await failed;
        }
        return moved;
    }

    /// <summary>The inactivity schedule under the current model, rebuilt when the model or the rows object changed.</summary>
    private InactivitySchedule? CurrentSchedule()
    {
        if (models.Current is not { } model)
        {
            return null;
        }
        if (_schedule is null || _scheduledVersion != model.Version)
        {
            _schedule = new InactivitySchedule(_rows, options.Value.SweepInterval);
            if (_schedule.Rebuild(model) is var failed and > 0)
            {
                LogRebuildFailures(logger, (int)this.GetPrimaryKeyLong(), failed);
                EngineMetrics.CustomerFailures.WithLabels("schedule").Inc(failed);
            }
            _scheduledVersion = model.Version;
        }
        return _schedule;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Shard {Shard}: {Failed} rows could not be scheduled under the current model; they are scheduled again by their next row")]
    private static partial void LogRebuildFailures(ILogger logger, int shard, int failed);
}
