using System.Globalization;
using Engine.Api.V1;
using Engine.Core.Clv;
using Google.Protobuf.WellKnownTypes;

namespace Engine.IntegrationTests;

/// <summary>
/// The paper's CDNOW sample (tests/Engine.UnitTests/Data, see its README) imported into a server in event time: the
/// retrain's customer-value fit equals a direct fit of the same purchases summarised at the model's as_of, and
/// GetCustomer's values equal the closed forms at the model's parameters.
/// </summary>
[Trait("Category", "Integration")]
public sealed class CustomerValueTests : IAsyncLifetime
{
    private readonly EngineServer _server = new();
    private readonly List<(string Customer, DateOnly Day, double Amount)> _purchases = Load();

    public async Task InitializeAsync() => await _server.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Retrain_fits_the_shards_histories_and_GetCustomer_serves_the_closed_forms()
    {
        var events = _purchases.Select((p, i) => new Event
        {
            EventId = $"cdnow-{i}",
            CustomerId = p.Customer,
            Type = EventType.Purchase,
            Amount = p.Amount,
            // Several purchases a day at different hours: a day counts once, its amounts add up.
            OccurredAt = Timestamp.FromDateTime(p.Day.ToDateTime(new TimeOnly(8 + i % 10, 0), DateTimeKind.Utc)),
        });
        await _server.IngestAllAsync(events, 500);
        await _server.Models.RetrainAsync(new RetrainRequest { K = 3 });
        var model = await _server.Models.GetModelAsync(new GetModelRequest());
        var asOf = model.ClvAsOf.ToDateTime();
        Assert.Equal(new DateOnly(1998, 6, 30), DateOnly.FromDateTime(asOf));

        var direct = Summaries(DateOnly.FromDateTime(asOf));
        var bg = BgNbd.Fit(direct.Values)!.Value;
        var gg = GammaGamma.Fit(direct.Values)!.Value;
        Assert.Equal(bg.Parameters.R, model.ClvR, 1e-4);
        Assert.Equal(bg.Parameters.Alpha, model.ClvAlpha, 1e-3);
        Assert.Equal(bg.Parameters.A, model.ClvA, 1e-4);
        Assert.Equal(bg.Parameters.B, model.ClvB, 1e-3);
        Assert.Equal(bg.LogLikelihood, model.ClvBgnbdLogLikelihood, 1e-3);
        Assert.Equal(gg.Parameters.P, model.ClvP, 1e-3);
        Assert.Equal(gg.Parameters.Q, model.ClvQ, 1e-3);
        Assert.Equal(gg.Parameters.Gamma, model.ClvGamma, 1e-2);
        Assert.Equal(gg.LogLikelihood, model.ClvGammaGammaLogLikelihood, 1e-3);

        var fitted = new BgNbdParameters(model.ClvR, model.ClvAlpha, model.ClvA, model.ClvB);
        var spend = new GammaGammaParameters(model.ClvP, model.ClvQ, model.ClvGamma);
        foreach (var id in new[] { "00004", "00021", direct.MaxBy(kv => kv.Value.Frequency).Key, direct.First(kv => kv.Value.Frequency == 0).Key })
        {
            var customer = await _server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = id });
            var s = Summaries(DateOnly.FromDateTime(customer.AsOf.ToDateTime()))[id];
            var pAlive = BgNbd.PAlive(fitted, s.Frequency, s.Recency, s.Age);
            var expected = BgNbd.ExpectedPurchases(fitted, s.Frequency, s.Recency, s.Age, 52);
            var value = GammaGamma.ExpectedOrderValue(spend, s.Frequency, s.MeanRepeatValue);
            Assert.Equal(pAlive, customer.PAlive, 12);
            Assert.Equal(1 - pAlive, customer.ChurnRisk, 12);
            Assert.Equal(expected, customer.ExpectedPurchases, 9);
            Assert.Equal(value, customer.ExpectedOrderValue, 9);
            Assert.Equal(expected * value, customer.Clv, 6);
            Assert.InRange(customer.PAlive, 0, 1);
        }

        // Segment profiles (learned and RFM): the members' CLVs summed and averaged, and their mean p_alive, as the
        // customers themselves report them.
        var all = await Population.CustomersAsync(_server, _purchases.Select(p => p.Customer).Distinct());
        Assert.Contains(all, c => c.Clv > 0);
        void AssertProfiles(IEnumerable<Segment> segments, Func<Customer, string> segmentOf)
        {
            foreach (var seg in segments)
            {
                var members = all.Where(c => segmentOf(c) == seg.SegmentId).ToList();
                Assert.Equal(members.Count, seg.Size);
                Assert.Equal(members.Sum(c => c.Clv), seg.ExpectedRevenue, 6);
                Assert.Equal(members.Count == 0 ? 0 : members.Average(c => c.Clv), seg.MeanClv, 6);
                Assert.Equal(members.Count == 0 ? 0 : members.Average(c => c.PAlive), seg.MeanPAlive, 6);
            }
        }
        AssertProfiles((await _server.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments, c => c.SegmentId);
        AssertProfiles((await _server.Segments.ListRfmSegmentsAsync(new ListRfmSegmentsRequest())).Segments, c => c.RfmSegmentId);
    }

    private Dictionary<string, RepeatSummary> Summaries(DateOnly asOf) =>
        _purchases.Where(p => p.Day <= asOf).GroupBy(p => p.Customer).ToDictionary(g => g.Key, g =>
        {
            var days = g.GroupBy(p => p.Day).OrderBy(d => d.Key).Select(d => (d.Key, Amount: d.Sum(p => p.Amount))).ToList();
            var x = days.Count - 1;
            return new RepeatSummary(x, (days[^1].Key.DayNumber - days[0].Key.DayNumber) / 7.0,
                (asOf.DayNumber - days[0].Key.DayNumber) / 7.0, x > 0 ? days.Skip(1).Sum(d => d.Amount) / x : 0);
        });

    private static List<(string, DateOnly, double)> Load() =>
        File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Data", "cdnow_paper_sample.txt"))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 5)
            .Select(f => (f[0], DateOnly.ParseExact(f[2], "yyyyMMdd", CultureInfo.InvariantCulture), double.Parse(f[4], CultureInfo.InvariantCulture)))
            .ToList();
}
