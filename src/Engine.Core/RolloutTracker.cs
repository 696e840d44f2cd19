using System.Diagnostics;

namespace Engine.Core;

/// <summary>
/// A shard's view of one model rollout: the customers the new model may move that the rollout has yet to reach. A
/// customer is reached when its row comes under the model (by the rollout or by its own next event, which costs the
/// rollout nothing). The sweep leaves these customers to the rollout: it would race it, call its moves INACTIVITY and,
/// holding the ingest pipeline's turn, stall ingest. The rollout's end forgets them, and so does a stall of
/// <see cref="Stall"/> without a call from the rollout (its caller died): the sweep is their safety net again. Ingest
/// rows do not count as the rollout's progress: under steady traffic some candidate's row nearly always arrives, and a
/// rollout cut short would keep its remaining customers from the sweep indefinitely. Times are Stopwatch timestamps.
/// </summary>
public sealed class RolloutTracker
{
    public static readonly TimeSpan Stall = TimeSpan.FromMinutes(5);

    private HashSet<string>? _pending;
    // Customers the rollout did not name whose row then came under an older model (a batch logged just before the
    // model was published, applied after the candidates were named): the rollout asks them at its end.
    private List<string>? _late;
    private long _lastCall;

    /// <summary>The model version of the rollout tracked (0: none yet).</summary>
    public long Version { get; private set; }

    /// <summary>Customers dropped because their row came under the model; only grows (late additions do not offset it).</summary>
    public int Reached { get; private set; }

    public void Start(long version, IEnumerable<string> candidates, long now)
    {
        (_pending, _late, Version, Reached, _lastCall) = (new HashSet<string>(candidates, StringComparer.Ordinal), null, version, 0, now);
    }

    /// <summary>A customer's row arrived, assigned under <paramref name="rowModel"/> (0: no model yet).</summary>
    public void RowTaken(string customerId, long rowModel)
    {
        if (rowModel < Version && rowModel > 0 && _pending?.Add(customerId) == true)
        {
            (_late ??= []).Add(customerId);
        }
        else if (rowModel >= Version && _pending?.Remove(customerId) == true)
        {
            Reached++;
        }
    }

    /// <summary>The rollout of <paramref name="version"/> called: it is alive.</summary>
    public void Called(long version, long now)
    {
        if (version == Version)
        {
            _lastCall = now;
        }
    }

    /// <summary>Those of <paramref name="customers"/> still to reach; all of them when this rollout is not tracked (any more).</summary>
    public string[] StillToReach(IEnumerable<string> customers, long version) =>
        PendingOf(version) is { } pending ? customers.Where(pending.Contains).ToArray() : customers.ToArray();

    /// <summary>How many are still to reach; −1 when this rollout is not tracked.</summary>
    public int StillToReachCount(long version) => PendingOf(version)?.Count ?? -1;

    /// <summary>The customers that came late to the rollout of <paramref name="version"/>, once.</summary>
    public string[] TakeLate(long version)
    {
        var late = version == Version ? _late?.ToArray() ?? [] : [];
        _late = null;
        return late;
    }

    public void End(long version)
    {
        if (version == Version)
        {
            (_pending, _late) = (null, null);
        }
    }

    /// <summary>Whether a rollout is still reaching customers at <paramref name="now"/>; forgets one that has stalled.</summary>
    public bool RollingOut(long now)
    {
        if (_pending is { Count: > 0 } && Stopwatch.GetElapsedTime(_lastCall, now) < Stall)
        {
            return true;
        }
        _pending = null;
        return false;
    }

    /// <summary>Whether the sweep leaves <paramref name="customerId"/> to the rollout (call after <see cref="RollingOut"/>).</summary>
    public bool Holds(string customerId) => _pending?.Contains(customerId) == true;

    private HashSet<string>? PendingOf(long version) => version == Version ? _pending : null;
}

/// <summary>
/// When a rollout stops leaving its customers to ingest and starts asking them. It looks at its shard every settle
/// interval and waits on while the shard is taking rows and either none of the customers had been reached by the last
/// look (the batches in flight were logged under the old model) or more than 1 in 50 of those left were reached since.
/// Ingest counts as idle after two looks in a row without a row: under full load one shard once saw an interval
/// without any (a stall of the pipeline) and stopped waiting early while the others waited on. An idle engine pays
/// two intervals.
/// </summary>
public static class RolloutSettle
{
    /// <summary>What one look saw: customers still to reach, customers reached so far, rows the shard has taken.</summary>
    public readonly record struct Look(int StillToReach, int Reached, long RowsTaken);

    /// <summary>Whether to stop waiting after look <paramref name="now"/>, and the count of quiet looks so far.</summary>
    public static (bool Stop, int Quiet) After(Look last, Look now, int quiet)
    {
        quiet = now.RowsTaken > last.RowsTaken ? 0 : quiet + 1;
        // Judged from the second interval of reaching on: the first may have caught only its start.
        var slowing = last.Reached > 0 && now.Reached - last.Reached < Math.Max(1, last.StillToReach / 50);
        return (now.StillToReach <= 0 || quiet == 2 || (quiet == 0 && slowing), quiet);
    }
}
