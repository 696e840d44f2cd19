using Engine.Api.V1;
using Grpc.Core;

namespace Engine.IntegrationTests;

/// <summary>
/// RFM scores and named RFM segments against a direct computation from the events: the cut points (20/40/60/80%
/// quantiles over the customers with a purchase when the model was trained), every customer's scores and named
/// segment, and the RFM segment listing; live as time passes, and again after a retrain.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RfmTests : IAsyncLifetime
{
    // No drift retrain: the tests choose when a model is trained (60 silent days would otherwise drift).
    private readonly EngineServer _server = new(settings: new() { ["Engine:DriftCheckInterval"] = "01:00:00" });

    public async Task InitializeAsync() => await _server.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>The issue's naming rules, written out independently of the engine's table.</summary>
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

        // The retrain's rollout moved every customer its new cut points moved, events or not: each one's last RFM move
        // goes to the RFM segment it is in, and the customers it moved have a RETRAIN move under model 2.
        var buyers = Direct(data).Keys.ToList();
        var customers = (await Population.CustomersAsync(_server, buyers)).ToDictionary(c => c.CustomerId);
        var histories = await Population.HistoriesAsync(_server, buyers, SegmentKind.Rfm);
        Assert.All(buyers, id => Assert.Equal(customers[id].RfmSegmentId, histories[id][0].ToSegmentId));
        Assert.Contains(histories.Values, h => h[0] is { Cause: Cause.Retrain, ModelVersion: 2 });
    }

    /// <summary>The named RFM segment by the rules, from cut points and values as the engine compares them.</summary>
    private static string SegmentIdOf(RfmCutPoints cuts, double recencyDays, long frequency)
    {
        var r = 1 + cuts.RecencyDays.Count(cut => (float)recencyDays < cut);
        var f = 1 + cuts.Frequency.Count(cut => frequency > cut);
        return "rfm:" + NameOf(r, f).ToLowerInvariant().Replace("'", "").Replace(' ', '-');
    }

    [Fact]
    public async Task Rfm_segment_changes_are_transitions_of_their_own_kind_in_histories_matrices_and_alerts()
    {
        var data = Synthetic.Generate(customers: 400, seed: 29);
        await _server.IngestAllAsync(data.Events, 500);
        await _server.Models.RetrainAsync(new RetrainRequest { K = 3 });
        var cuts = (await _server.Models.GetModelAsync(new GetModelRequest())).RfmCutPoints;
        var buyers = Direct(data).Keys.ToList();

        // The first model gives every customer with a purchase its first RFM segment: one RFM move from unassigned, cause
        // RETRAIN, beside (not among) its learned moves.
        var learned = await Population.HistoriesAsync(_server, buyers);
        var rfm = await Population.HistoriesAsync(_server, buyers, SegmentKind.Rfm);
        var both = await Population.HistoriesAsync(_server, buyers, SegmentKind.Learned, SegmentKind.Rfm);
        foreach (var c in await Population.CustomersAsync(_server, buyers))
        {
            Assert.All(learned[c.CustomerId], t => Assert.Equal(SegmentKind.Learned, t.Kind));
            var first = Assert.Single(rfm[c.CustomerId]);
            Assert.Equal((SegmentKind.Rfm, "unassigned", c.RfmSegmentId, c.RfmSegment, Cause.Retrain, 1L),
                (first.Kind, first.FromSegmentId, first.ToSegmentId, first.ToSegmentName, first.Cause, first.ModelVersion));
            Assert.Equal(learned[c.CustomerId].Count + 1, both[c.CustomerId].Count);
        }
        var sizes = (await _server.Segments.ListRfmSegmentsAsync(new ListRfmSegmentsRequest())).Segments.ToDictionary(s => s.SegmentId, s => s.Size);
        var matrix = await _server.Segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest { Kind = SegmentKind.Rfm });
        Assert.Equal(sizes.Keys.Order(), matrix.SegmentIds.Order());
        Assert.Equal(matrix.SegmentIds.Select(id => sizes[id]), matrix.Entries);
        Assert.All(matrix.Counts, n => Assert.Equal(0, n));
        // The learned matrix is what it was: no RFM segment in it.
        Assert.DoesNotContain((await _server.Segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest())).SegmentIds, id => id.StartsWith("rfm:"));

        // 60 silent days pass for most; some buy again. Each RFM segment that changed has its move: EVENT for a purchase,
        // INACTIVITY for silence, dated when the recency crossed the cut point that changed the segment.
        var before = (await Population.CustomersAsync(_server, buyers)).ToDictionary(c => c.CustomerId);
        var (watermark, later) = (data.Watermark, data.Watermark.AddDays(60));
        var again = buyers.Where((id, i) => i % 5 == 0).ToHashSet();
        foreach (var id in again)
        {
            data.Add($"again-{id}", id, EventType.Purchase, later.AddHours(-1), 40, "cat1");
        }
        data.Add("tick", buyers[1], EventType.Session, later, 0, "");
        await _server.IngestAllAsync(data.Events.Where(e => e.EventId.StartsWith("again-") || e.EventId == "tick"), 500);
        var after = (await Population.CustomersAsync(_server, buyers)).ToDictionary(c => c.CustomerId);
        rfm = await Poll.UntilAsync(() => Population.HistoriesAsync(_server, buyers, SegmentKind.Rfm),
            h => buyers.All(id => h[id][0].ToSegmentId == after[id].RfmSegmentId));
        var (events, silences) = (0, 0);
        foreach (var id in buyers)
        {
            var moves = rfm[id].TakeWhile(t => t.At.ToDateTime() > watermark).ToList();
            Assert.True(after[id].RfmSegmentId == rfm[id][0].ToSegmentId, $"{id}: {after[id]}\n{string.Join("\n", rfm[id])}");
            if (before[id].RfmSegmentId == after[id].RfmSegmentId && moves.Count == 0)
            {
                continue;
            }
            Assert.NotEmpty(moves);
            Assert.Equal(before[id].RfmSegmentId, moves[^1].FromSegmentId);
            foreach (var move in moves.Where(m => m.Cause == Cause.Inactivity))
            {
                // Silence alone: the segment by the rules one second before the move is where it came from, and at the
                // move, where it went.
                var at = move.At.ToDateTime();
                var lastPurchase = before[id].AsOf.ToDateTime().AddDays(-before[id].Rfm.RecencyDays);
                Assert.True(at <= later && at > watermark, $"{id}: {move}");
                Assert.Equal(move.FromSegmentId, SegmentIdOf(cuts, (at.AddSeconds(-1) - lastPurchase).TotalDays, before[id].Rfm.Frequency));
                Assert.Equal(move.ToSegmentId, SegmentIdOf(cuts, (at - lastPurchase).TotalDays, before[id].Rfm.Frequency));
                silences++;
            }
            if (again.Contains(id))
            {
                Assert.Equal(Cause.Event, moves[0].Cause);
                events++;
            }
        }
        Assert.True(events > 10 && silences > 10, $"{events} moves by a purchase and {silences} by silence: the test shows too little");
        var inactivity = await _server.Segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest { Kind = SegmentKind.Rfm, Causes = { Cause.Inactivity } });
        Assert.Equal(rfm.Values.Sum(h => h.Count(t => t.Cause == Cause.Inactivity)), inactivity.Counts.Sum());

        // Alerts: a subscriber to RFM moves gets each of them once, in order; the default subscriber gets only learned moves.
        async Task<List<MigrationAlert>> AlertsAsync(int count, params SegmentKind[] kinds)
        {
            using var call = _server.Alerts.SubscribeMigrations(new SubscribeMigrationsRequest { Kinds = { kinds } });
            var alerts = new List<MigrationAlert>();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await foreach (var alert in call.ResponseStream.ReadAllAsync(timeout.Token))
            {
                alerts.Add(alert);
                if (alerts.Count == count)
                {
                    break;
                }
            }
            return alerts;
        }
        var rfmMoves = rfm.Values.Sum(h => h.Count);
        var rfmAlerts = await AlertsAsync(rfmMoves, SegmentKind.Rfm);
        Assert.All(rfmAlerts, a => Assert.Equal(SegmentKind.Rfm, a.Transition.Kind));
        static string Key(string customer, Transition t) => $"{customer} {t.At} {t.FromSegmentId} {t.ToSegmentId} {t.Cause}";
        Assert.Equal(rfm.SelectMany(h => h.Value.Select(t => Key(h.Key, t))).Order(), rfmAlerts.Select(a => Key(a.CustomerId, a.Transition)).Order());
        var learnedMoves = (await Population.HistoriesAsync(_server, buyers)).Values.Sum(h => h.Count);
        Assert.All(await AlertsAsync(learnedMoves), a => Assert.Equal(SegmentKind.Learned, a.Transition.Kind));
    }
}
