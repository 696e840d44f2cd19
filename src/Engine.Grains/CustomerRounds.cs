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
    /// still logged and handed on (those customers have moved and will not report it again), then the failure is thrown;
    /// so is a failed log write, after the round's rows are handed on.
    /// </summary>
    public static async Task<long> AskAsync(IReadOnlyCollection<string> customers, Func<string, Task<ApplyResult>> ask,
        Func<string, Task<ApplyResult>>? resend, TransitionLogWriter writes, Func<ShardRow[], Task> takeRows, int parallelism = Parallelism)
    {
        long moved = 0;
        foreach (var chunk in customers.Chunk(parallelism))
        {
            var round = await AskRoundAsync(chunk, ask, resend, writes);
            var rows = round.Results.Where(r => r?.Row is not null).Select(r => r!.Row!).ToArray();
            if (rows.Length > 0)
            {
                await takeRows(rows);
            }
            moved += round.Moved;
            if (round.Failed is { } failed)
            {
                await failed;
            }
        }
        return moved;
    }

    /// <summary>
    /// One round: asks every item at once and logs the transitions of the calls that succeeded. A call can fail after
    /// its customer moved and checkpointed (a timeout, an answer lost on the way), and that customer would not report
    /// the move again: once the round's transitions are logged, each failed item is asked <paramref name="resend"/> (a
    /// recovery, which hands the customer's latest transitions over again; the log ignores the ones it has), and what
    /// it hands over is logged too. Returns each item's result (null where its call failed), the transitions the log
    /// did not have yet, and the first failure, of a call or of a log write, for the caller to throw once it has taken
    /// the round's rows. A failed log write keeps its transitions for the next write (<see cref="TransitionLogWriter"/>).
    /// <paramref name="resend"/> is null when the ask is itself a recovery: asking it again at once would repeat it.
    /// </summary>
    public static async Task<(ApplyResult?[] Results, int Moved, Task? Failed)> AskRoundAsync<T>(IReadOnlyList<T> items,
        Func<T, Task<ApplyResult>> ask, Func<T, Task<ApplyResult>>? resend, TransitionLogWriter writes)
    {
        var calls = items.Select(ask).ToArray();
        try
        {
            await Task.WhenAll(calls);
        }
        catch
        {
            // Inspected per call below: the others have moved and checkpointed, and will not report it again.
        }
        var results = calls.Select(c => c.IsCompletedSuccessfully ? c.Result : null).ToArray();
        var failed = calls.FirstOrDefault(c => !c.IsCompletedSuccessfully);
        // Logged before the resends, which may wait behind a failed call still running in its customer.
        var (moved, failedWrite) = await LogAsync(writes, results.SelectMany(r => r?.Transitions ?? []).ToArray());
        if (failed is not null && resend is not null)
        {
            var resends = items.Where((_, i) => results[i] is null).Select(resend).ToArray();
            var (resent, failedResent) = await LogAsync(writes, await ResendAsync(resends));
            moved += resent;
            failedWrite ??= failedResent;
        }
        return (results, moved, failed ?? failedWrite);
    }

    private static async Task<(int Written, Task? Failed)> LogAsync(TransitionLogWriter writes, TransitionRecord[] transitions)
    {
        var write = writes.AppendTransitionsAsync(transitions);
        try
        {
            return (await write, null);
        }
        catch
        {
            return (0, write);
        }
    }

    /// <summary>
    /// The transitions the resends handed over. Their rows are not handed on: to the caller each of these customers is
    /// the round's failure (a rollout counts a customer whose row it takes as reached).
    /// </summary>
    private static async Task<TransitionRecord[]> ResendAsync(Task<ApplyResult>[] resends)
    {
        try
        {
            await Task.WhenAll(resends);
        }
        catch
        {
            // A customer that cannot answer this either keeps its transitions in its history; a later recovery of it
            // (a shard repair, a replay, a lagging customer) hands them over.
        }
        return resends.Where(r => r.IsCompletedSuccessfully).SelectMany(r => r.Result.Transitions).ToArray();
    }
}
