using System.Text.Json;
using Engine.Api.V1;

namespace Engine.ProcessTests;

/// <summary><c>engine cohorts</c> as a user runs it: JSON when piped equals the RPC's answer; a table on request; usage errors.</summary>
[Trait("Category", "Process")]
public sealed class CohortCliTests
{
    [Fact]
    public async Task Cohorts_print_the_rpc_answer_as_json_and_a_triangle_on_request()
    {
        await using var server = await new EngineServer().StartAsync();
        var data = Synthetic.Generate(customers: 200, seed: 12);
        await server.IngestAllAsync(data.Events, 500);

        var expected = await server.Analytics.GetCohortsAsync(new GetCohortsRequest { Period = CohortPeriod.Week, Metric = CohortMetric.Revenue });
        Assert.NotEmpty(expected.Cohorts);
        var piped = await EngineCli.RunAsync(server.GrpcAddress, "cohorts", "--period", "week", "--metric", "revenue");
        Assert.True(piped.ExitCode == 0, piped.Err);
        var json = JsonDocument.Parse(piped.Out).RootElement;
        Assert.Equal("WEEK", json.GetProperty("period").GetString());
        var rows = json.GetProperty("cohorts").EnumerateArray().ToList();
        Assert.Equal(expected.Cohorts.Select(c => (c.Size.ToString(), c.Values.Sum())),
            rows.Select(r => (r.GetProperty("size").GetString()!, r.GetProperty("values").EnumerateArray().Sum(v => v.GetDouble()))));

        var months = await server.Analytics.GetCohortsAsync(new GetCohortsRequest());
        var table = await EngineCli.RunAsync(server.GrpcAddress, "cohorts", "--output", "table");
        Assert.True(table.ExitCode == 0, table.Err);
        Assert.Contains("cohorts by first-purchase month", table.Out);
        Assert.All(months.Cohorts, c => Assert.Contains(c.Start.ToDateTime().ToString("yyyy-MM-dd"), table.Out));
        Assert.Contains("100%", table.Out);  // Period 0: every customer of a cohort bought in it.
        Assert.Contains("left out: a wider terminal or --output json shows them", table.Out);  // 18 months do not fit 80 columns.

        var usage = await EngineCli.RunAsync(server.GrpcAddress, "cohorts", "--period", "day");
        Assert.Equal((2, "error: --period: 'day' is not week or month"), (usage.ExitCode, usage.Err.TrimEnd()));
        var day = await EngineCli.RunAsync(server.GrpcAddress, "cohorts", "--from", "2024-13-01");
        Assert.Equal((2, "error: --from: '2024-13-01' is not a day (YYYY-MM-DD)"), (day.ExitCode, day.Err.TrimEnd()));
    }
}
