using Engine.Api.V1;

namespace Engine.IntegrationTests;

/// <summary>
/// RFM scores and named RFM segments against a direct computation from the events: the cut points (20/40/60/80%
/// quantiles over the customers with a purchase when the model was trained), every customer's scores and named
/// segment, and the RFM segment listing; live as time passes, and again after a retrain.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RfmTests : IAsyncLifetime
{
    private readonly EngineServer _server = new();

    public async Task InitializeAsync() => await _server.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>The naming rules, written out independently of the engine's table.</summary>
    private static string NameOf(int r, int f) => (r, f) switch
    {
        (<= 2, <= 2) => "Hibernating",
        (<= 2, <= 4) => "At risk",
        (<= 2, 5) => "Can't lose them",
        (3, <= 2) => "About to sleep",
        (3, 3) => "Need attention",
        (3 or 4, >= 4) => "Loyal",
        (4, 1) => "Promising",
        (5, 1) => "New",
        (4 or 5, 2 or 3) => "Potential loyalist",
        (5, >= 4) => "Champions",
        _ => throw new ArgumentOutOfRangeException(nameof(r)),
    };

    /// <summary>Values in single precision, the precision the engine documents that scores compare in.</summary>
    private sealed record Values(float Recency, float Frequency, float Monetary);

    /// <summary>RFM values straight from the events, at the watermark, of the customers with a purchase.</summary>
    private static Dictionary<string, Values> Direct(Synthetic data) =>
        data.Expected().Where(kv => kv.Value.Frequency > 0).ToDictionary(kv => kv.Key,
            kv => new Values((float)kv.Value.Recency, kv.Value.Frequency, (float)kv.Value.Monetary));

    /// <summary>Quantile q = k/5 by its definition: the smallest v such that at least a share q of the values are ≤ v.</summary>
    private static double[] Quantiles(IEnumerable<float> column)
    {
        var values = column.ToArray();
        return [.. Enumerable.Range(1, 4).Select(k => (double)values.Where(v => values.Count(x => x <= v) * 5L >= k * (long)values.Length).Min())];
    }

    private static void AssertCutPoints(Dictionary<string, Values> direct, RfmCutPoints cuts)
    {
        Assert.Equal(direct.Count, cuts.Customers);
        Assert.Equal(Quantiles(direct.Values.Select(v => v.Recency)), cuts.RecencyDays);
        Assert.Equal(Quantiles(direct.Values.Select(v => v.Frequency)), cuts.Frequency);
        Assert.Equal(Quantiles(direct.Values.Select(v => v.Monetary)), cuts.Monetary);
    }

    private async Task AssertEveryCustomerAsync(Synthetic data, RfmCutPoints cuts)
    {
        var direct = Direct(data);
        var ids = data.CustomerIds.ToList();
        var customers = await Population.CustomersAsync(_server, ids);
        Assert.Equal(ids.Count, customers.Count);
        var sizes = new Dictionary<string, long>();
        var revenue = new Dictionary<string, double>();
        foreach (var c in customers)
        {
            Assert.Equal(data.Watermark, c.AsOf.ToDateTime());
            if (!direct.TryGetValue(c.CustomerId, out var v))
            {
                Assert.Equal((0, 0, 0, "", ""), (c.RScore, c.FScore, c.MScore, c.RfmSegmentId, c.RfmSegment));
                continue;
            }
            var r = 1 + cuts.RecencyDays.Count(cut => v.Recency < cut);
            var f = 1 + cuts.Frequency.Count(cut => v.Frequency > cut);
            var m = 1 + cuts.Monetary.Count(cut => v.Monetary > cut);
            Assert.True((r, f, m) == (c.RScore, c.FScore, c.MScore), $"{c.CustomerId}: expected {r}-{f}-{m}, got {c.RScore}-{c.FScore}-{c.MScore}");
            Assert.Equal(NameOf(r, f), c.RfmSegment);
            sizes[c.RfmSegment] = sizes.GetValueOrDefault(c.RfmSegment) + 1;
            revenue[c.RfmSegment] = revenue.GetValueOrDefault(c.RfmSegment) + v.Monetary;
        }

        var listed = await _server.Segments.ListRfmSegmentsAsync(new ListRfmSegmentsRequest());
        Assert.Equal(10, listed.Segments.Count);
        Assert.Equal(ids.Count - direct.Count, listed.CustomersWithoutPurchase);
        Assert.True(listed.CustomersWithoutPurchase > 0);
        Assert.All(listed.Segments, s => Assert.Equal(SegmentKind.Rfm, s.Kind));
        foreach (var s in listed.Segments)
        {
            Assert.Equal(sizes.GetValueOrDefault(s.Name), s.Size);
            Assert.Equal((double)s.Size / direct.Count, s.ShareOfCustomers, 12);
            Assert.Equal(revenue.GetValueOrDefault(s.Name) / revenue.Values.Sum(), s.ShareOfRevenue, 9);
        }
        // The population is spread over several named segments, so the comparison above is not of one trivial cell.
        Assert.True(sizes.Count >= 4, $"only {sizes.Count} named segments are populated");
    }

    [Fact]
    public async Task Scores_and_named_segments_match_a_direct_computation_for_every_customer()
    {
        var data = Synthetic.Generate(customers: 600, seed: 28);
        // Customers with no purchase have no scores and no RFM segment.
        for (var i = 0; i < 5; i++)
        {
            data.Add($"browse-{i}", $"browser{i}", EventType.Session, Synthetic.Start.AddDays(500 + i), 0, "");
        }
        await _server.IngestAllAsync(data.Events, 500);
        await _server.Models.RetrainAsync(new RetrainRequest { K = 3 });

        var model = await _server.Models.GetModelAsync(new GetModelRequest());
        AssertCutPoints(Direct(data), model.RfmCutPoints);
        await AssertEveryCustomerAsync(data, model.RfmCutPoints);

        // Time passes and some customers buy again: scores are live against the same cut points at the new as_of.
        var later = data.Watermark.AddDays(45);
        foreach (var id in data.CustomerIds.Where((id, i) => i % 7 == 0 && !id.StartsWith("browser")).ToList())
        {
            data.Add($"again-{id}", id, EventType.Purchase, later.AddHours(-id.Length), 40, "cat1");
        }
        data.Add("tick", "browser0", EventType.Session, later, 0, "");
        await _server.IngestAllAsync(data.Events.Where(e => e.EventId.StartsWith("again-") || e.EventId == "tick"), 500);
        Assert.Equal(model.RfmCutPoints, (await _server.Models.GetModelAsync(new GetModelRequest())).RfmCutPoints);
        await AssertEveryCustomerAsync(data, model.RfmCutPoints);

        // A retrain measures the cut points again, over the population as it is now.
        await _server.Models.RetrainAsync(new RetrainRequest { K = 3 });
        var retrained = await _server.Models.GetModelAsync(new GetModelRequest());
        Assert.Equal(2, retrained.Version);
        AssertCutPoints(Direct(data), retrained.RfmCutPoints);
        await AssertEveryCustomerAsync(data, retrained.RfmCutPoints);
    }
}
