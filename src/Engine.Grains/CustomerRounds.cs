using Engine.Abstractions;

namespace Engine.Grains;

/// <summary>
/// Asking many customers something that may move them (reassign, recover, sweep), in rounds: each round's calls run
/// in parallel, then its transitions go to the transition log and its rows to whoever keeps them.
/// </summary>
public static class CustomerRounds
{
    /// <summary>
    /// Customers asked at once by default (shard repair, unassigned rows, sweeps): enough to hide call latency. A retrain's
    /// rollout, which runs beside full ingest and writes most of what it asks, passes fewer.
    /// </summary>
    public const int Parallelism = 256;

    /// <summary>
    /// Asks every customer in rounds; returns the transitions recorded. If a call fails, the round's other outcomes are
    /// still logged and handed on (those customers have moved and will not report it again), then the failure is thrown.
    /// </summary>
    public static async Task<long> AskAsync(IReadOnlyCollection<string> customers, Func<string, Task<ApplyResult>> ask,
        DurableWrites writes, Func<ShardRow[], Task> takeRows, int parallelism = Parallelism)
    {
        long moved = 0;
        foreach (var round in customers.Chunk(parallelism))
        {
            var calls = round.Select(ask).ToArray();
            try
            {
                await Task.WhenAll(calls);
            }
            catch
            {
                // Inspected per call below.
            }
            var results = calls.Where(c => c.IsCompletedSuccessfully).Select(c => c.Result).ToArray();
            var transitions = results.SelectMany(r => r.Transitions).ToArray();
            // Counted as the log has them: a recovery hands over transitions it may already have.
            moved += await writes.AppendTransitionsAsync(transitions);
            var rows = results.Where(r => r.Row is not null).Select(r => r.Row!).ToArray();
            if (rows.Length > 0)
            {
                await takeRows(rows);
            }
            if (calls.FirstOrDefault(c => !c.IsCompletedSuccessfully) is { } failed)
            {
                await failed;
            }
        }
        return moved;
    }
}
