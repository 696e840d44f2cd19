namespace Engine.Grains;

/// <summary>
/// How many events the silo's ingest may hold between being queued and being acknowledged
/// (<see cref="IngestOptions.MaxEventsInFlight"/>). A request that finds no room waits up to
/// <see cref="IngestOptions.IngestAdmissionWait"/> for earlier ones to be acknowledged, then is refused
/// (<see cref="IngestOverloadedException"/>): memory stays bounded however many clients send at once, and a client told
/// to come back later loses nothing (none of its events were taken). A request larger than the bound is let in alone
/// when nothing else is in flight, so no valid request is refused forever.
/// </summary>
public sealed class IngestAdmission(long capacity)
{
    private long _used;
    private int _waiters;
    private TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long InFlight => Interlocked.Read(ref _used);

    /// <summary>Takes room for <paramref name="events"/>, waiting up to <paramref name="wait"/>; false if there was none.</summary>
    public async ValueTask<bool> TryEnterAsync(int events, TimeSpan wait, CancellationToken ct)
    {
        if (TryTake(events))
        {
            return true;
        }
        var deadline = DateTime.UtcNow + wait;
        // Counted before looking at the room again, so a release after that look sees a waiter to wake.
        Interlocked.Increment(ref _waiters);
        try
        {
            while (true)
            {
                var released = Volatile.Read(ref _released).Task;
                if (TryTake(events))
                {
                    return true;
                }
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    return false;
                }
                try
                {
                    await released.WaitAsync(left, ct);
                }
                catch (TimeoutException)
                {
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiters);
        }
    }

    /// <summary>Gives back the room of <paramref name="events"/> acknowledged (or failed) events and wakes the waiters, if any.</summary>
    public void Exit(int events)
    {
        Interlocked.Add(ref _used, -events);
        if (Volatile.Read(ref _waiters) > 0)
        {
            Interlocked.Exchange(ref _released, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }

    private bool TryTake(int events)
    {
        var used = Interlocked.Read(ref _used);
        while (used == 0 || used + events <= capacity)
        {
            var seen = Interlocked.CompareExchange(ref _used, used + events, used);
            if (seen == used)
            {
                return true;
            }
            used = seen;
        }
        return false;
    }
}

/// <summary>The silo's ingest holds as many events as it may: the request was not taken; send it again after <see cref="RetryAfter"/>.</summary>
public sealed class IngestOverloadedException(TimeSpan retryAfter, long inFlight)
    : Exception($"ingest is at its limit of events in flight ({inFlight:N0} held); nothing of this request was taken, send it again in {retryAfter.TotalMilliseconds:F0} ms")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}
