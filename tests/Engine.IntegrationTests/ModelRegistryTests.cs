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
