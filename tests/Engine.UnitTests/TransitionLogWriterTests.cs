using Engine.Abstractions;
using Engine.Grains;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public class TransitionLogWriterTests
{
    private static TransitionRecord T(string customer, long number) =>
        new(customer, number, "a", "b", new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), TransitionCause.Event, 1);

    [Fact]
    public async Task Transitions_of_a_failed_write_go_out_with_the_next_write_from_any_caller()
    {
        var log = TransitionLog.Create(failures: 1);
        var writes = new TransitionLogWriter(log, NullLogger<TransitionLogWriter>.Instance, ResiliencePipeline.Empty);

        // A publish fails after its customers handed their transitions over...
        await Assert.ThrowsAsync<IOException>(() => writes.AppendTransitionsAsync([T("c1", 1), T("c2", 1)]));
        Assert.Equal(2, writes.Kept);
        // ...and the next write (here a shard's reassignment) carries them.
        await writes.AppendTransitionsAsync([T("c3", 4)]);

        Assert.Equal(0, writes.Kept);
        Assert.Equal(["c1/1", "c2/1", "c3/4"], ((TransitionLog)(object)log).Written.Select(t => $"{t.CustomerId}/{t.Number}").Order());
    }

    [Fact]
    public async Task A_failed_call_in_a_round_of_customers_still_logs_and_hands_on_the_others()
    {
        var log = TransitionLog.Create(failures: 0);
        var writes = new TransitionLogWriter(log, NullLogger<TransitionLogWriter>.Instance, ResiliencePipeline.Empty);
        var taken = new List<string>();
        ApplyResult Moved(string id, int number) => new(new ShardRow(id, new float[ShardMatrix.D], DateTime.UnixEpoch, "s"), [T(id, number)], 0);
        Task<ApplyResult> Ask(string id) => id == "c2"
            ? Task.FromException<ApplyResult>(new TimeoutException("c2's checkpoint timed out (test fault)"))
            : Task.FromResult(Moved(id, 1));
        // c2 had moved (its second transition) and checkpointed before its answer was lost: its recovery says so.
        // (Asked once the round's own moves are logged: a resend can wait behind a call still running in its customer.)
        var resent = new List<(string Id, int LoggedBefore)>();
        Task<ApplyResult> Resend(string id)
        {
            resent.Add((id, ((TransitionLog)(object)log).Written.Count));
            return Task.FromResult(Moved(id, 2));
        }

        // Rounds of two: c1 and c2, then c3, which is not asked once a round has failed.
        await Assert.ThrowsAsync<TimeoutException>(() => CustomerRounds.AskAsync(["c1", "c2", "c3"], Ask, Resend, writes, rows =>
        {
            taken.AddRange(rows.Select(r => r.CustomerId));
            return Task.CompletedTask;
        }, parallelism: 2));

        Assert.Equal([("c2", 1)], resent);
        Assert.Equal(["c1/1", "c2/2"], ((TransitionLog)(object)log).Written.Select(t => $"{t.CustomerId}/{t.Number}").Order());
        // The failed customer's row is not taken: its call may not have done its work.
        Assert.Equal(["c1"], taken);
    }
}

/// <summary>A transition log in memory whose first appends fail.</summary>
public class TransitionLog : System.Reflection.DispatchProxy
{
    private int _failures;

    public List<TransitionRecord> Written { get; } = [];

    public static Engine.Storage.IEventLog Create(int failures)
    {
        var proxy = Create<Engine.Storage.IEventLog, TransitionLog>();
        ((TransitionLog)(object)proxy)._failures = failures;
        return proxy;
    }

    protected override object? Invoke(System.Reflection.MethodInfo? method, object?[]? args)
    {
        if (method!.Name != nameof(Engine.Storage.IEventLog.AppendTransitionsAsync))
        {
            throw new NotSupportedException(method.Name);
        }
        if (_failures-- > 0)
        {
            return Task.FromException<IReadOnlyList<TransitionRecord>>(new IOException("the database is down (test fault)"));
        }
        var transitions = (IReadOnlyList<TransitionRecord>)args![0]!;
        Written.AddRange(transitions);
        return Task.FromResult(transitions);
    }
}
