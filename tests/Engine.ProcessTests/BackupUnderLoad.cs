using System.Collections.Concurrent;
using Engine.Api.V1;

namespace Engine.ProcessTests;

/// <summary>
/// What a backup promises (docs/operations.md, "Backup and restore"), whichever store it copies: a backup taken while
/// three streams ingest, restored, has every request acknowledged before the backup began exactly once, and the
/// population adds up. <see cref="IngestAsync"/> runs the load and the backup; <see cref="AssertRestoredAsync"/> checks
/// the server started on the copy.
/// </summary>
internal sealed class BackupUnderLoad
{
    private const int Streams = 3;

    private readonly Synthetic _data;
    private readonly List<IngestRequest> _requests;
    private readonly HashSet<int> _before;

    private BackupUnderLoad(Synthetic data, List<IngestRequest> requests, HashSet<int> before)
    {
        _data = data;
        _requests = requests;
        _before = before;
    }

    /// <summary>The settings both the backed-up server and the restored one run with (model training on the population).</summary>
    public static Dictionary<string, string?> Settings(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Engine:AutoTrainMinCustomers"] = "300",
            ["Engine:DefaultK"] = "3",
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }
        return settings;
    }

    /// <summary>
    /// Ingests a third of the population and waits for a model; then three streams ingest the rest and
    /// <paramref name="backup"/> runs once half of it is acknowledged, while the streams go on. Records which requests
    /// were acknowledged before the backup began.
    /// </summary>
    public static async Task<BackupUnderLoad> IngestAsync(EngineServer server, int seed, Func<Task> backup)
    {
        var data = Synthetic.Generate(customers: 1200, seed: seed);
        var requests = Synthetic.Batches(data.Events, 40).ToList();
        var warmup = requests.Count / 3;
        foreach (var request in requests.Take(warmup))
        {
            Assert.Equal(request.Events.Count, (await server.Ingest.IngestAsync(request)).Accepted);
        }
        await Population.WaitForModelAsync(server);

        var rest = Enumerable.Range(warmup, requests.Count - warmup).ToList();
        var ackedBefore = new ConcurrentBag<int>();
        var backupBegan = 0;
        var half = new TaskCompletionSource();
        var done = 0;
        async Task Stream(int offset)
        {
            for (var i = offset; i < rest.Count; i += Streams)
            {
                var response = await server.Ingest.IngestAsync(requests[rest[i]]);
                Assert.Equal(requests[rest[i]].Events.Count, response.Accepted);
                // Read after the acknowledgement: 0 means it came before the backup was started.
                if (Volatile.Read(ref backupBegan) == 0)
                {
                    ackedBefore.Add(rest[i]);
                }
                if (Interlocked.Increment(ref done) == rest.Count / 2)
                {
                    half.SetResult();
                }
            }
        }
        var streams = Task.WhenAll(Enumerable.Range(0, Streams).Select(Stream));
        // A stream that fails before half is acknowledged fails the test here, rather than leaving it waiting for half.
        if (await Task.WhenAny(half.Task, streams) == streams)
        {
            await streams;
        }
        Volatile.Write(ref backupBegan, 1);
        await backup();
        await streams;
        // Ingest went on during the backup.
        Assert.True(ackedBefore.Count < rest.Count);
        return new BackupUnderLoad(data, requests, ackedBefore.Concat(Enumerable.Range(0, warmup)).ToHashSet());
    }

    /// <summary>Checks a server started on the restored copy.</summary>
    public async Task AssertRestoredAsync(EngineServer restored)
    {
        var ids = _data.CustomerIds.ToList();
        // Every event acknowledged before the backup began is in the restored log: sent again, each is a duplicate.
        foreach (var i in _before.Order())
        {
            Assert.Equal(_requests[i].Events.Count, (await restored.Ingest.IngestAsync(_requests[i])).Duplicates);
        }
        // The customers of those requests that nothing later touched have exactly those events, counted once.
        var after = _requests.Where((_, i) => !_before.Contains(i)).ToList();
        var later = after.SelectMany(r => r.Events).Select(e => e.CustomerId).ToHashSet();
        var expected = _data.Expected();
        var untouched = ids.Where(id => !later.Contains(id)).ToList();
        Assert.NotEmpty(untouched);
        foreach (var c in await Population.CustomersAsync(restored, untouched))
        {
            Assert.Equal(expected[c.CustomerId].Frequency, c.Rfm.Frequency);
            Assert.Equal(expected[c.CustomerId].Monetary, c.Rfm.Monetary, 0.005);
        }
        // The rest are either in the copy (duplicates) or not (accepted now); then every customer has every event once.
        var counts = await Task.WhenAll(after.Select(r => restored.Ingest.IngestAsync(r).ResponseAsync));
        Assert.Equal(after.Sum(r => r.Events.Count), counts.Sum(c => c.Accepted + c.Duplicates));
        foreach (var c in await Population.CustomersAsync(restored, ids))
        {
            Assert.Equal(expected[c.CustomerId].Frequency, c.Rfm.Frequency);
            Assert.Equal(expected[c.CustomerId].Monetary, c.Rfm.Monetary, 0.005);
        }

        // One event a day after all the others moves the copy's event time on; a retrain then, with every event applied
        // and none in flight, dates its moves no earlier: nothing the backed-up silo recorded about itself (its applied
        // time, from before the backup) is left to date them earlier.
        var now = _data.Watermark.AddDays(1);
        var late = Synthetic.Request(Synthetic.NewEvent("after-restore", ids[0], EventType.Purchase, now, 10));
        Assert.Equal(1, (await restored.Ingest.IngestAsync(late)).Accepted);
        var model = (await restored.Segments.ListSegmentsAsync(new ListSegmentsRequest())).ModelVersion;
        await restored.Models.RetrainAsync(new RetrainRequest { K = 4 });
        var version = await Population.WaitForModelAsync(restored, model + 1, customers: ids.Count);
        var histories = await Population.HistoriesAsync(restored, ids);
        var moves = histories.Values.SelectMany(h => h).Where(t => t.ModelVersion == version && t.Cause == Cause.Retrain).ToList();
        Assert.NotEmpty(moves);
        Assert.All(moves, t => Assert.True(t.At.ToDateTime() >= now, $"a move of the retrain dated {t.At.ToDateTime():O}, before {now:O}"));

        // Histories chain from unassigned, in time order; segment sizes and the matrix add up to the customers.
        foreach (var (id, h) in histories)
        {
            Assert.Equal("unassigned", h[^1].FromSegmentId);
            for (var i = 0; i + 1 < h.Count; i++)
            {
                Assert.True(h[i].FromSegmentId == h[i + 1].ToSegmentId, $"{id}: a transition does not start where the one before ended");
                Assert.True(h[i].At.ToDateTime() >= h[i + 1].At.ToDateTime(), $"{id}: history out of time order");
            }
        }
        Assert.Equal(ids.Count, (await restored.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments.Sum(s => s.Size));
        await Population.AssertMatrixMatchesHistoriesAsync(restored, ids);
    }
}
