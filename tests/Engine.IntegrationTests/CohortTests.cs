using System.Globalization;
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;

namespace Engine.IntegrationTests;

/// <summary>
/// GetCohorts on a generated population (first purchases spread over five months, repeat purchases, refunds, customers
/// with no purchase) equals, cell by cell, a direct computation from the generated events with the ISO calendar, on
/// SQLite and on PostgreSQL.
/// </summary>
[Trait("Category", "Integration")]
public sealed class CohortTests : IAsyncLifetime
{
    private readonly EngineServer _server = new();
    private readonly List<Event> _events = Generate(seed: 28);

    public async Task InitializeAsync()
    {
        await _server.StartAsync();
        await _server.IngestAllAsync(_events.OrderBy(e => e.OccurredAt.ToDateTime()), 200);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData(CohortPeriod.Week, CohortMetric.Customers)]
    [InlineData(CohortPeriod.Week, CohortMetric.Revenue)]
    [InlineData(CohortPeriod.Month, CohortMetric.Customers)]
    [InlineData(CohortPeriod.Month, CohortMetric.Revenue)]
    public async Task Every_cell_equals_a_direct_computation(CohortPeriod period, CohortMetric metric)
    {
        var answer = await _server.Analytics.GetCohortsAsync(new GetCohortsRequest { Period = period, Metric = metric });
        AssertEqual(Direct(period, metric, null, null), answer);
    }

    [Fact]
    public async Task From_and_to_bound_the_first_purchase_and_the_defaults_are_month_and_customers()
    {
        var (from, to) = (new DateTime(2025, 2, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(2025, 4, 1, 0, 0, 0, DateTimeKind.Utc));
        var answer = await _server.Analytics.GetCohortsAsync(new GetCohortsRequest { From = Timestamp.FromDateTime(from), To = Timestamp.FromDateTime(to) });
        Assert.Equal((CohortPeriod.Month, CohortMetric.Customers), (answer.Period, answer.Metric));
        Assert.Equal(2, answer.Cohorts.Count);
        AssertEqual(Direct(CohortPeriod.Month, CohortMetric.Customers, from, to), answer);

        var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => _server.Analytics.GetCohortsAsync(
            new GetCohortsRequest { From = Timestamp.FromDateTime(to), To = Timestamp.FromDateTime(from) }).ResponseAsync);
        Assert.Equal((Grpc.Core.StatusCode.InvalidArgument, "to: must be after from"), (error.StatusCode, error.Status.Detail));
    }

    [SkippableFact]
    public async Task PostgreSQL_gives_the_same_table()
    {
        await using var db = await Postgres.CreateDatabaseAsync();
        await using var server = await new EngineServer(settings: new() { ["Engine:Storage"] = "postgres", ["Engine:ConnectionString"] = db.ConnectionString }).StartAsync();
        await server.IngestAllAsync(_events.OrderBy(e => e.OccurredAt.ToDateTime()), 200);
        foreach (var period in new[] { CohortPeriod.Week, CohortPeriod.Month })
        {
            foreach (var metric in new[] { CohortMetric.Customers, CohortMetric.Revenue })
            {
                AssertEqual(Direct(period, metric, null, null), await server.Analytics.GetCohortsAsync(new GetCohortsRequest { Period = period, Metric = metric }));
            }
        }
    }

    private static void AssertEqual((DateTime Start, long Size, double[] Values)[] expected, GetCohortsResponse answer)
    {
        Assert.Equal(expected.Select(r => (r.Start, r.Size)), answer.Cohorts.Select(c => (c.Start.ToDateTime(), c.Size)));
        foreach (var (row, cohort) in expected.Zip(answer.Cohorts))
        {
            Assert.Equal(row.Values.Length, cohort.Values.Count);
            for (var k = 0; k < row.Values.Length; k++)
            {
                Assert.Equal(row.Values[k], cohort.Values[k], 6);
            }
        }
    }

    /// <summary>The table computed from the generated events alone: ISO weeks from System.Globalization, months by number.</summary>
    private (DateTime Start, long Size, double[] Values)[] Direct(CohortPeriod period, CohortMetric metric, DateTime? from, DateTime? to)
    {
        DateTime Start(DateTime t) => period == CohortPeriod.Week
            ? ISOWeek.ToDateTime(ISOWeek.GetYear(t), ISOWeek.GetWeekOfYear(t), DayOfWeek.Monday)
            : new DateTime(t.Year, t.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        int Index(DateTime t) => period == CohortPeriod.Week ? (int)(Start(t) - DateTime.UnixEpoch).TotalDays / 7 : (t.Year * 12) + t.Month;

        var money = _events.Where(e => e.Type is EventType.Purchase or EventType.Refund).Select(e => (e.CustomerId, e.Type, At: e.OccurredAt.ToDateTime(), e.Amount));
        var customers = money.GroupBy(e => e.CustomerId)
            .Where(g => g.Any(e => e.Type == EventType.Purchase))
            .Select(g => (First: g.Where(e => e.Type == EventType.Purchase).Min(e => e.At), Events: g.ToList()))
            .Where(c => (from is null || c.First >= from) && (to is null || c.First < to))
            .ToList();
        var last = Index(customers.SelectMany(c => c.Events).Max(e => e.At));
        return customers.GroupBy(c => Start(c.First)).OrderBy(g => g.Key).Select(g =>
        {
            var values = new double[last - Index(g.Key) + 1];
            foreach (var (first, events) in g)
            {
                var cohort = Index(first);
                if (metric == CohortMetric.Customers)
                {
                    foreach (var k in events.Where(e => e.Type == EventType.Purchase).Select(e => Index(e.At) - cohort).Distinct())
                    {
                        values[k]++;
                    }
                }
                else
                {
                    foreach (var e in events.Where(e => Index(e.At) >= cohort))
                    {
                        values[Index(e.At) - cohort] += e.Type == EventType.Purchase ? e.Amount : -e.Amount;
                    }
                }
            }
            return (g.Key, (long)g.Count(), values);
        }).ToArray();
    }

    /// <summary>
    /// 150 customers: a first purchase between January and May 2025 at any hour (Sunday nights and Monday mornings
    /// included), up to six repeat purchases over the next 120 days, a refund for some; a few with sessions only, one
    /// with a refund only.
    /// </summary>
    private static List<Event> Generate(int seed)
    {
        var random = new Random(seed);
        var start = new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var events = new List<Event>();
        void Add(string customer, EventType type, DateTime at, double amount) => events.Add(new Event
        {
            EventId = $"e{events.Count}", CustomerId = customer, Type = type, Amount = amount, OccurredAt = Timestamp.FromDateTime(at),
        });
        for (var i = 0; i < 150; i++)
        {
            var id = $"c{i:D3}";
            if (i % 25 == 7)
            {
                Add(id, EventType.Session, start.AddMinutes(random.Next(150 * 24 * 60)), 0);
                continue;
            }
            // Every tenth first purchase lands in the last minutes of a Sunday or the first of a Monday.
            var first = i % 10 == 3
                ? start.AddDays(4 + (7 * random.Next(20))).AddHours(23).AddMinutes(random.Next(60)).AddMinutes(random.Next(2) * 60)
                : start.AddMinutes(random.Next(150 * 24 * 60));
            Add(id, EventType.Purchase, first, Math.Round(10 + (random.NextDouble() * 90), 2));
            for (var n = random.Next(7); n > 0; n--)
            {
                Add(id, EventType.Purchase, first.AddMinutes(random.Next(120 * 24 * 60)), Math.Round(5 + (random.NextDouble() * 200), 2));
            }
            if (i % 6 == 0)
            {
                Add(id, EventType.Refund, first.AddDays(random.Next(1, 60)), Math.Round(1 + (random.NextDouble() * 20), 2));
            }
        }
        Add("refund-only", EventType.Refund, start.AddDays(40), 12.5);
        return events;
    }
}
