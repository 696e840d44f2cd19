using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Engine.IntegrationTests;

/// <summary>Names people give, segment profiles, and drift-triggered retraining, over real gRPC.</summary>
[Trait("Category", "Integration")]
public sealed class ModelLifecycleTests : IAsyncLifetime
{
    private readonly EngineServer _server = new(settings: new()
    {
        ["Engine:AutoTrainMinCustomers"] = "300",
        ["Engine:DefaultK"] = "3",
        ["Engine:DriftCheckInterval"] = "00:00:01",
    });

    private Synthetic _data = null!;

    public async Task InitializeAsync()
    {
        await _server.StartAsync();
        _data = Synthetic.Generate(customers: 450, seed: 31);
        await _server.IngestAllAsync(_data.Events, 1000);
        await Population.WaitForModelAsync(_server);
        // A model trained on all of the data: its baseline is what drift is measured against.
        await _server.Models.RetrainAsync(new RetrainRequest { K = 3 });
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_renamed_segment_keeps_its_name_across_a_retrain()
    {
        var segments = await _server.Segments.ListSegmentsAsync(new ListSegmentsRequest());
        var target = segments.Segments[0];
        var renamed = await _server.Models.RenameSegmentAsync(new RenameSegmentRequest { SegmentId = target.SegmentId, Name = "VIP watchlist" });
        Assert.Equal("VIP watchlist", renamed.Name);

        var retrain = await _server.Models.RetrainAsync(new RetrainRequest { K = 3 });
        var after = await _server.Segments.ListSegmentsAsync(new ListSegmentsRequest());
        Assert.Equal(retrain.ModelVersion, after.ModelVersion);
        Assert.Equal("VIP watchlist", after.Segments.Single(s => s.SegmentId == target.SegmentId).Name);
        var member = (await Population.CustomersAsync(_server, _data.CustomerIds)).First(c => c.SegmentId == target.SegmentId);
        Assert.Equal("VIP watchlist", member.SegmentName);

        var clash = await Assert.ThrowsAsync<RpcException>(() => _server.Models.RenameSegmentAsync(
            new RenameSegmentRequest { SegmentId = after.Segments[1].SegmentId, Name = "vip WATCHLIST" }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, clash.StatusCode);
        Assert.StartsWith("name:", clash.Status.Detail);
        var unknown = await Assert.ThrowsAsync<RpcException>(() => _server.Models.RenameSegmentAsync(
            new RenameSegmentRequest { SegmentId = "seg-999", Name = "x" }).ResponseAsync);
        Assert.StartsWith("segment_id:", unknown.Status.Detail);
    }

    [Fact]
    public async Task Segment_profiles_give_shares_means_and_lifts()
    {
        var segments = (await _server.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments;
        Assert.Equal(1.0, segments.Sum(s => s.ShareOfCustomers), 1e-9);
        Assert.Equal(1.0, segments.Sum(s => s.ShareOfRevenue), 1e-9);
        var expected = _data.Expected();
        var customers = await Population.CustomersAsync(_server, _data.CustomerIds);
        foreach (var s in segments)
        {
            var members = customers.Where(c => c.SegmentId == s.SegmentId).ToList();
            Assert.Equal(members.Count, s.Size);
            Assert.Equal(members.Average(c => expected[c.CustomerId].Frequency), s.Mean["frequency"], 1e-6);
            Assert.Equal(s.Mean["monetary"] / customers.Average(c => expected[c.CustomerId].Monetary), s.Lift["monetary"], 1e-6);
        }
        // The big spenders' segment has a monetary lift well above 1.
        Assert.Contains(segments, s => s.Lift["monetary"] > 2);
    }

    [Fact]
    public async Task Doubling_everyones_spend_raises_psi_and_retrains_for_drift()
    {
        var before = await _server.Models.GetDriftAsync(new GetDriftRequest());
        Assert.False(before.Drifted, $"PSI before any shift: {string.Join(", ", before.FeaturePsi.Select(p => $"{p.Key}={p.Value:F3}"))} segments={before.SegmentPsi:F3}");
        var version = before.ModelVersion;

        // Every customer spends again what it has spent so far: monetary doubles.
        var shift = new IngestRequest();
        var at = _data.Watermark;
        foreach (var (id, rfm) in _data.Expected())
        {
            shift.Events.Add(new Event
            {
                EventId = $"double-{id}", CustomerId = id, Type = EventType.Purchase, Amount = Math.Max(1, Math.Round(rfm.Monetary, 2)),
                OccurredAt = Timestamp.FromDateTime(at), Category = "cat0",
            });
        }
        await _server.Ingest.IngestAsync(shift);

        var deadline = DateTime.UtcNow.AddSeconds(60);
        Model model;
        do
        {
            await Task.Delay(250);
            model = await _server.Models.GetModelAsync(new GetModelRequest());
        }
        while (model.Version == version && DateTime.UtcNow < deadline);
        Assert.Equal(version + 1, model.Version);
        Assert.Equal("drift", model.Reason);
        // The model is published before its rollout reaches every customer; segment shares settle once it has.
        var after = await _server.Models.GetDriftAsync(new GetDriftRequest());
        while (after.Drifted && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
            after = await _server.Models.GetDriftAsync(new GetDriftRequest());
        }
        Assert.Equal(model.Version, after.ModelVersion);
        Assert.False(after.Drifted, $"PSI after the retrain: {string.Join(", ", after.FeaturePsi.Select(p => $"{p.Key}={p.Value:F3}"))} segments={after.SegmentPsi:F3}");
    }
}
