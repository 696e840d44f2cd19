using System.Collections.Concurrent;
using Engine.Api.V1;

namespace Engine.ProcessTests;

/// <summary>
/// Backups taken while a real server ingests, restored and started: every event acknowledged before the backup began
/// is there once, and the population adds up (docs/operations.md, "Backup and restore").
/// </summary>
[Collection(ServerProcesses.Name)]
[Trait("Category", "Process")]
public sealed class BackupTests
{
    [Fact]
    public async Task A_backup_under_ingest_load_restores_every_event_acknowledged_before_it_once()
    {
        var config = new EngineServer(settings: new()
        {
            ["Engine:AutoTrainMinCustomers"] = "300",
            ["Engine:DefaultK"] = "3",
            // Checkpoints keep moving while the backup runs: the copy must not take one that its grain state lacks.
            ["Engine:CheckpointInterval"] = "00:00:00.500",
        });
        await using var process = new EngineProcess(config);
        await process.StartAsync();
        var data = Synthetic.Generate(customers: 1200, seed: 71);
        var ids = data.CustomerIds.ToList();
        var requests = Synthetic.Batches(data.Events, 40).ToList();
        var warmup = requests.Count / 3;
        foreach (var request in requests.Take(warmup))
        {
            Assert.Equal(request.Events.Count, (await config.Ingest.IngestAsync(request)).Accepted);
        }
        await Population.WaitForModelAsync(config);

        // Three streams ingest the rest; the backup starts half way. Requests acknowledged before it began are recorded.
        var rest = Enumerable.Range(warmup, requests.Count - warmup).ToList();
        var ackedBefore = new ConcurrentBag<int>();
        var backupBegan = 0;
        var half = new TaskCompletionSource();
        var done = 0;
        async Task Stream(int offset)
        {
            for (var i = offset; i < rest.Count; i += 3)
            {
                var response = await config.Ingest.IngestAsync(requests[rest[i]]);
                Assert.Equal(requests[rest[i]].Events.Count, response.Accepted);
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
        var streams = Task.WhenAll(Stream(0), Stream(1), Stream(2));
        await half.Task;
        var backupDirectory = Path.Combine(TempDirectory.Create(), "backup");
        Volatile.Write(ref backupBegan, 1);
        var backup = await EngineCli.RunAsync(config.GrpcAddress, "--output", "json", "admin", "backup", "--out", backupDirectory);
        Assert.True(backup.ExitCode == 0, backup.Err);
        await streams;
        Assert.Contains("\"logPosition\"", backup.Out);
        // Ingest went on during the backup.
        Assert.True(ackedBefore.Count < rest.Count);
        var again = await EngineCli.RunAsync(config.GrpcAddress, "admin", "backup", "--out", backupDirectory);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("ALREADY_EXISTS", again.Err);
        await process.TerminateAsync();

        // Restore refuses a directory that holds a store, then restores into a new one.
        var refused = await EngineCli.RunAsync(config.GrpcAddress, "admin", "restore", "--from", backupDirectory, "--data-dir", config.DataDirectory);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("already holds", refused.Err);
        var restoredDirectory = TempDirectory.Create();
        var restore = await EngineCli.RunAsync(config.GrpcAddress, "admin", "restore", "--from", backupDirectory, "--data-dir", restoredDirectory);
        Assert.True(restore.ExitCode == 0, restore.Err);

        var restored = new EngineServer(restoredDirectory, new()
        {
            ["Engine:AutoTrainMinCustomers"] = "300",
            ["Engine:DefaultK"] = "3",
        });
        await using var second = new EngineProcess(restored);
        await second.StartAsync();
        var before = ackedBefore.Concat(Enumerable.Range(0, warmup)).ToHashSet();
        // Every event acknowledged before the backup began is in the restored log: sent again, each is a duplicate.
        foreach (var i in before.Order())
        {
            Assert.Equal(requests[i].Events.Count, (await restored.Ingest.IngestAsync(requests[i])).Duplicates);
        }
        // The customers of those requests that nothing later touched have exactly those events, counted once.
        var later = requests.Where((_, i) => !before.Contains(i)).SelectMany(r => r.Events).Select(e => e.CustomerId).ToHashSet();
        var expected = data.Expected();
        var untouched = ids.Where(id => !later.Contains(id)).ToList();
        Assert.NotEmpty(untouched);
        foreach (var c in await Population.CustomersAsync(restored, untouched))
        {
            Assert.Equal(expected[c.CustomerId].Frequency, c.Rfm.Frequency);
            Assert.Equal(expected[c.CustomerId].Monetary, c.Rfm.Monetary, 0.005);
        }
        // The rest are either in the copy (duplicates) or not (accepted now); then every customer has every event once.
        var rerun = requests.Where((_, i) => !before.Contains(i)).Select(r => restored.Ingest.IngestAsync(r).ResponseAsync).ToList();
        var counts = await Task.WhenAll(rerun);
        Assert.Equal(requests.Where((_, i) => !before.Contains(i)).Sum(r => r.Events.Count), counts.Sum(c => c.Accepted + c.Duplicates));
        foreach (var c in await Population.CustomersAsync(restored, ids))
        {
            Assert.Equal(expected[c.CustomerId].Frequency, c.Rfm.Frequency);
            Assert.Equal(expected[c.CustomerId].Monetary, c.Rfm.Monetary, 0.005);
        }

        // Histories chain from unassigned, in time order; segment sizes and the matrix add up to the customers.
        var histories = await Population.HistoriesAsync(restored, ids);
        foreach (var (id, h) in histories)
        {
            Assert.Equal("unassigned", h[^1].FromSegmentId);
            for (var i = 0; i + 1 < h.Count; i++)
            {
                Assert.True(h[i].FromSegmentId == h[i + 1].ToSegmentId, $"{id}: a transition does not start where the one before ended");
                Assert.True(h[i].At.ToDateTime() >= h[i + 1].At.ToDateTime(), $"{id}: history out of time order");
            }
        }
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await restored.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments.Sum(s => s.Size) != ids.Count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
        Assert.Equal(ids.Count, (await restored.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments.Sum(s => s.Size));
        await Population.AssertMatrixMatchesHistoriesAsync(restored, ids);
    }
}
