using Engine.Api.V1;

namespace Engine.IntegrationTests;

/// <summary>
/// A k that holds still (a retrain on unchanged data changes no k, id, name or segment) and the model registry: every
/// version listed with its metrics, compared, and rolled back to, over real gRPC.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ModelRegistryTests : IAsyncLifetime
{
    private readonly EngineServer _server = new(settings: new()
    {
        ["Engine:AutoTrainMinCustomers"] = "100000",
        ["Engine:KMin"] = "5",
        ["Engine:KMax"] = "8",
        ["Engine:DriftCheckInterval"] = "01:00:00",
    });

    private Synthetic _data = null!;

    public async Task InitializeAsync()
    {
        await _server.StartAsync();
        _data = Synthetic.Generate(customers: 600, seed: 47);
        await _server.IngestAllAsync(_data.Events, 1000);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Retraining_unchanged_data_keeps_k_ids_names_and_every_segment()
    {
        var first = await _server.Models.RetrainAsync(new RetrainRequest { K = 0 });
        var before = await SnapshotAsync();
        var retrains = await MovesAsync(Cause.Retrain);

        foreach (var k in new[] { 0, 0, first.K, 0 })
        {
            var again = await _server.Models.RetrainAsync(new RetrainRequest { K = k });
            Assert.Equal(first.K, again.K);
            Assert.Equal(0, again.Reassigned);
            var after = await SnapshotAsync();
            Assert.Equal(before.Segments, after.Segments);
            Assert.Equal(before.Assignments, after.Assignments);
        }
        Assert.Equal(retrains, await MovesAsync(Cause.Retrain));
    }

    [Fact]
    public async Task Models_are_listed_with_metrics_compared_and_rolled_back_to()
    {
        var first = await _server.Models.RetrainAsync(new RetrainRequest { K = 0 });
        var underFirst = await SnapshotAsync();
        var second = await _server.Models.RetrainAsync(new RetrainRequest { K = first.K == 3 ? 4 : 3 });
        var underSecond = await SnapshotAsync();
        Assert.NotEqual(underFirst.Segments, underSecond.Segments);

        // The registry: newest first, paged, with each version's metrics; the first one retired by the second.
        var page = await _server.Models.ListModelsAsync(new ListModelsRequest { PageSize = 1 });
        Assert.Equal([second.ModelVersion], page.Models.Select(m => m.Version));
        var rest = await _server.Models.ListModelsAsync(new ListModelsRequest { PageSize = 1, PageToken = page.NextPageToken });
        Assert.Equal([first.ModelVersion], rest.Models.Select(m => m.Version));
        Assert.Empty(rest.NextPageToken);
        var (older, newer) = (rest.Models[0], page.Models[0]);
        Assert.Equal(first.Candidates.Single(c => c.K == first.K).Silhouette, older.Silhouette);
        Assert.InRange(newer.Silhouette, 0.01, 1);
        Assert.Equal(_data.CustomerIds.Count(), older.TrainedSizes.Sum());
        Assert.Equal(underFirst.Assignments.Values.CountBy(s => s).OrderBy(p => p.Key).Select(p => (long)p.Value),
            older.Segments.Select((s, i) => (s.SegmentId, Size: older.TrainedSizes[i])).OrderBy(p => p.SegmentId).Select(p => p.Size));
        Assert.NotNull(older.RetiredAt);
        Assert.Null(newer.RetiredAt);
        Assert.Equal(first.K, older.K);

        // The comparison: every customer, counted under the segment it had under each model.
        var compare = await _server.Models.CompareModelsAsync(new CompareModelsRequest { A = first.ModelVersion, B = second.ModelVersion });
        Assert.Equal(_data.CustomerIds.Count(), compare.Customers);
        foreach (var id in _data.CustomerIds)
        {
            var cell = compare.SegmentIdsA.IndexOf(underFirst.Assignments[id]) * compare.SegmentIdsB.Count
                + compare.SegmentIdsB.IndexOf(underSecond.Assignments[id]);
            compare.Counts[cell]--;
        }
        Assert.All(compare.Counts, c => Assert.Equal(0, c));

        // The rollback: a new version with the first model's segments, and every customer back where it was.
        var rollback = await _server.Models.RollbackAsync(new RollbackRequest { Version = first.ModelVersion });
        Assert.Equal(second.ModelVersion + 1, rollback.ModelVersion);
        Assert.Equal(first.K, rollback.K);
        Assert.True(rollback.Reassigned > 0);
        var model = await _server.Models.GetModelAsync(new GetModelRequest());
        Assert.Equal(("rollback", first.ModelVersion), (model.Reason, model.RolledBackFrom));
        var restored = await SnapshotAsync();
        Assert.Equal(underFirst.Segments, restored.Segments);
        Assert.Equal(underFirst.Assignments, restored.Assignments);
        var bad = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => _server.Models.RollbackAsync(new RollbackRequest { Version = rollback.ModelVersion }).ResponseAsync);
        Assert.StartsWith("version:", bad.Status.Detail);
    }

    private async Task<long> MovesAsync(Cause cause)
    {
        var matrix = await _server.Segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest { Causes = { cause } });
        return matrix.Counts.Sum() + matrix.Entries.Sum();
    }

    private async Task<(string Segments, Dictionary<string, string> Assignments)> SnapshotAsync()
    {
        var model = await _server.Models.GetModelAsync(new GetModelRequest());
        var segments = string.Join(";", model.Segments.Select(s => $"{s.SegmentId}={s.Name}"));
        var customers = await Population.CustomersAsync(_server, _data.CustomerIds);
        return (segments, customers.ToDictionary(c => c.CustomerId, c => c.SegmentId));
    }
}
