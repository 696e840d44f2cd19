using Engine.Abstractions;
using Engine.Storage;
using Polly;
using Polly.Retry;

namespace Engine.Grains;

/// <summary>
/// Writes of the transition log that must not be lost to a transient database error (a full connection pool, a
/// failover): a customer has already recorded the transition in its history, so the log must get it too.
/// Retried with exponential backoff for about half a minute before the error is let through.
/// </summary>
public static class DurableWrites
{
    private static readonly ResiliencePipeline Retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = 8,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(100),
            MaxDelay = TimeSpan.FromSeconds(8),
            UseJitter = true,
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not OperationCanceledException),
        })
        .Build();

    /// <summary>Appends to the transition log, retrying transient failures, and counts the transitions in the metrics.</summary>
    public static async Task AppendTransitionsDurablyAsync(this IEventLog log, IReadOnlyList<TransitionRecord> transitions)
    {
        await Retry.ExecuteAsync(async ct => await log.AppendTransitionsAsync(transitions, ct));
        EngineMetrics.Transitions(transitions);
    }
}
