namespace Engine.Storage;

/// <summary>
/// Wakes alert subscribers and webhook deliveries the moment transitions are committed in this process, so live
/// alerts do not wait for a poll. (Transitions written by another silo are found by the subscribers' short poll.)
/// </summary>
public sealed class TransitionSignal
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes at the next <see cref="Pulse"/>. Take it before reading, so no pulse is missed in between.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    public void Pulse() =>
        Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
