using System.Collections.Concurrent;
using System.Diagnostics;

namespace Engine.Storage;

/// <summary>
/// Lists written together (group commit): a caller queues its list, and whichever caller finds no write running writes
/// every list queued by then in one call, then looks again, so concurrent small writes share one transaction and one
/// commit. Each caller gets back the items of its own list that the write reports written (the same instances), or the
/// write's failure. The write must report the items it wrote in the order it was given them. The transition logs use
/// it: the shards' sweeps and rollouts, and a sweep's customers each writing their own moves, append at once
/// (deploy/bench/HISTORY.md, "Behind the code").
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
        _ = DrainAsync();
        return pending.Done.Task;
    }

    /// <summary>
    /// Writes while lists are queued and no other caller is writing. A list queued while a write runs is taken by that
    /// writer's next look: its caller's attempt to write fails only while the writer still holds the flag, and the
    /// writer looks at the queue after it lets go. Letting go is a full fence (<see cref="Interlocked.Exchange(ref int, int)"/>):
    /// with a plain store, that look could be made before the store is seen, and a list queued between the two would
    /// wait for the next caller. The writer goes on in the context of the caller that started it (a grain's turn):
    /// draining on the thread pool instead measured slower with a retrain in the load (deploy/bench/HISTORY.md,
    /// "Behind the code").
    /// </summary>
    private async Task DrainAsync()
    {
        while (!_queue.IsEmpty && Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
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
    }

    private async Task WriteGroupAsync(List<Pending> taken)
    {
        try
        {
            if (taken.Count == 1)
            {
                taken[0].Done.SetResult(await write(taken[0].Items));
                return;
            }
            // The written items are a subsequence of the group's, in its order: one walk hands each caller its own
            // (a set of the written ones hashed every item on every move's path).
            var written = await write([.. taken.SelectMany(p => p.Items)]);
            var next = 0;
            foreach (var p in taken)
            {
                var mine = new List<T>(p.Items.Count);
                foreach (var item in p.Items)
                {
                    if (next < written.Count && ReferenceEquals(written[next], item))
                    {
                        mine.Add(item);
                        next++;
                    }
                }
                p.Done.SetResult(mine);
            }
            Debug.Assert(next == written.Count, "the write reported items out of the order it was given them");
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
