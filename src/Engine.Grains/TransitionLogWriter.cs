using Engine.Abstractions;
using Engine.Storage;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Engine.Grains;

/// <summary>
/// Writes of the transition log that must not be lost to a database error: a customer has already recorded the
/// transition in its history and handed it over once, so the log must get it too. Transient errors (a full connection
/// pool, a failover) are retried with exponential backoff for about half a minute; transitions whose write still fails
/// are kept and go out with the next write from any caller (the log ignores repeats), until the silo stops.
/// </summary>
public sealed partial class TransitionLogWriter(ITransitionLog log, ILogger<TransitionLogWriter> logger, ResiliencePipeline? retry = null)
{
    /// <summary>Kept transitions beyond this are dropped, oldest first, with an error: memory is not unbounded either.</summary>
    public const int MaxKept = 1_000_000;

    private static readonly ResiliencePipeline DefaultRetry = new ResiliencePipelineBuilder()
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

    private readonly ResiliencePipeline _retry = retry ?? DefaultRetry;
    private readonly Lock _gate = new();
    private List<TransitionRecord> _kept = [];

    /// <summary>Transitions waiting for a write that succeeds.</summary>
    public int Kept
    {
        get
        {
            lock (_gate)
            {
                return _kept.Count;
            }
        }
    }

    /// <summary>
    /// Appends to the transition log (with any kept from failed writes) and counts in the metrics those the log did not
    /// have yet; returns how many of those were learned moves: the customers that changed segment, which is what a
    /// rollout reports as reassigned and a sweep as moved (RFM moves have their own kind and metric label).
    /// </summary>
    public async Task<int> AppendTransitionsAsync(IReadOnlyList<TransitionRecord> transitions)
    {
        List<TransitionRecord> batch;
        lock (_gate)
        {
            batch = _kept;
            batch.AddRange(transitions);
            _kept = [];
            EngineMetrics.TransitionsInMemory.Set(0);
        }
        if (batch.Count == 0)
        {
            return 0;
        }
        IReadOnlyList<TransitionRecord> written;
        using var span = EngineTracing.Source.StartActivity("engine.transitions.append");
        span?.SetTag("engine.transitions", batch.Count);
        try
        {
            written = await _retry.ExecuteAsync(async ct => await log.AppendTransitionsAsync(batch, ct));
        }
        catch
        {
            Keep(batch);
            throw;
        }
        return Counted(written);
    }

    /// <summary>
    /// One attempt, no retries and nothing kept on failure: for a caller that has its own fallback (a customer writing its
    /// moves by silence checkpoints them instead). Counts as <see cref="AppendTransitionsAsync"/> does and returns the same.
    /// </summary>
    public async Task<int> AppendOnceAsync(IReadOnlyList<TransitionRecord> transitions) =>
        Counted(await log.AppendTransitionsAsync(transitions));

    /// <summary>Counts the transitions the log did not have yet in the metrics; returns how many were learned moves.</summary>
    private static int Counted(IReadOnlyList<TransitionRecord> written)
    {
        EngineMetrics.Transitions(written);
        return written.Count(t => t.Kind == Engine.Core.SegmentKind.Learned);
    }

    private void Keep(List<TransitionRecord> batch)
    {
        lock (_gate)
        {
            batch.AddRange(_kept);
            _kept = batch;
            if (_kept.Count > MaxKept)
            {
                LogDropped(logger, _kept.Count - MaxKept);
                _kept.RemoveRange(0, _kept.Count - MaxKept);
            }
            EngineMetrics.TransitionsInMemory.Set(_kept.Count);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The transition log has been failing: dropped the {Count} oldest transitions kept for it")]
    private static partial void LogDropped(ILogger logger, int count);
}
