using Engine.Storage;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public class GroupWriterTests
{
    private sealed record Item(int Caller, int N);

    [Fact]
    public async Task Concurrent_writes_share_groups_and_each_caller_gets_back_only_its_own_written_items()
    {
        var (groups, busy) = (0, 0);
        var writer = new GroupWriter<Item>(async all =>
        {
            Assert.Equal(1, Interlocked.Increment(ref busy));
            Interlocked.Increment(ref groups);
            await Task.Delay(1);
            Interlocked.Decrement(ref busy);
            // The write reports the even items written, as a log reports the rows it did not have yet.
            return all.Where(i => i.N % 2 == 0).ToList();
        });
        const int Callers = 32, Writes = 50;
        var callers = Enumerable.Range(0, Callers).Select(c => Task.Run(async () =>
        {
            for (var w = 0; w < Writes; w++)
            {
                var mine = new[] { new Item(c, 2 * w), new Item(c, 2 * w + 1) };
                var written = await writer.WriteAsync(mine);
                // The same instances, only the caller's own, only those the write reported.
                Assert.Same(mine[0], Assert.Single(written));
            }
        })).ToArray();

        // Every write is answered: a list left in the queue would hold its caller until this gives up.
        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.InRange(groups, 1, Callers * Writes - 1);
    }

    [Fact]
    public async Task A_failed_write_fails_every_caller_in_its_group_and_the_next_write_goes_out()
    {
        var fail = true;
        var (entered, release) = (new TaskCompletionSource(), new TaskCompletionSource());
        var writer = new GroupWriter<Item>(async all =>
        {
            entered.TrySetResult();
            await release.Task;
            if (fail)
            {
                fail = false;
                throw new IOException("disk full");
            }
            return all;
        });
        // The first write holds the writer; the two queued meanwhile go out together after it.
        var first = writer.WriteAsync([new Item(0, 0)]);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var second = writer.WriteAsync([new Item(1, 0)]);
        var third = writer.WriteAsync([new Item(2, 0)]);
        release.SetResult();

        Assert.Equal("disk full", (await Assert.ThrowsAsync<IOException>(() => first)).Message);
        Assert.Single(await second.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Single(await third.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Single(await writer.WriteAsync([new Item(3, 0)]).WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
