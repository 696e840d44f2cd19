using System.Collections.Concurrent;

namespace Engine.Storage;

/// <summary>
/// Lists written together (group commit): a caller queues its list, and whichever caller finds no write running writes
/// every list queued by then in one call, then looks again, so concurrent small writes share one transaction and one
/// commit. Each caller gets back the items of its own list that the write reports written (the same instances), or the
/// write's failure. The transition logs use it: the shards' sweeps and rollouts, and a sweep's customers each writing
/// their own moves, append at once (deploy/bench/HISTORY.md, "Behind the code").
/// </summary>
public sealed class GroupWriter<T>(Func<IReadOnlyList<T>, Task<IReadOnlyList<T>>> write) where T : class
{
    private readonly ConcurrentQueue<Pending> _queue = new();
    private int _writing;

    private sealed class Pending(IReadOnlyList<T> items)
    {
        public IReadOnlyList<T> Items { get; } = items;
        public TaskCompletionSource<IReadOnlyList<T>> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public Task<IReadOnlyList<T>> WriteAsync(IReadOnlyList<T> items)
    {
        var pending = new Pending(items);
        _queue.Enqueue(pending);
        if (Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
        {
            // On the thread pool, not in the caller's context: a grain's turn must not carry other callers' writes.
            _ = Task.Run(DrainAsync);
        }
        return pending.Done.Task;
    }

    /// <summary>
    /// Holds the flag: writes every list queued, lets go, and takes the flag again if lists came meanwhile. A caller
    /// whose attempt to take the flag fails left its list in the queue before it tried, so the holder's look after it
    /// lets go sees it. Letting go is a full fence (<see cref="Interlocked.Exchange(ref int, int)"/>): with a plain
    /// store, that look could be made before the store is seen, and a list queued between the two would wait for ever.
    /// </summary>
    private async Task DrainAsync()
    {
        do
        {
            try
            {
                var taken = new List<Pending>();
                while (_queue.TryDequeue(out var next))
                {
                    taken.Add(next);
                }
                if (taken.Count > 0)
                {
                    await WriteGroupAsync(taken);
                }
            }
            finally
            {
                Interlocked.Exchange(ref _writing, 0);
            }
        }
        while (!_queue.IsEmpty && Interlocked.CompareExchange(ref _writing, 1, 0) == 0);
    }

    private async Task WriteGroupAsync(List<Pending> taken)
    {
        try
        {
            var written = new HashSet<T>(await write(taken.Count == 1 ? taken[0].Items : [.. taken.SelectMany(p => p.Items)]),
                ReferenceEqualityComparer.Instance);
            foreach (var p in taken)
            {
                p.Done.SetResult(p.Items.Where(written.Contains).ToArray());
            }
        }
        catch (Exception e)
        {
            foreach (var p in taken)
            {
                p.Done.TrySetException(e);
            }
        }
    }
}
