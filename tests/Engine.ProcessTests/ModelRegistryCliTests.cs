using System.Text.Json;
using Engine.Api.V1;

namespace Engine.ProcessTests;

/// <summary><c>engine models</c>, <c>engine models compare</c> and <c>engine rollback</c> against a real server.</summary>
[Trait("Category", "Process")]
public sealed class ModelRegistryCliTests
{
    [Fact]
    public async Task Models_list_compare_and_roll_back_from_the_cli()
    {
        await using var server = await new EngineServer().StartAsync();
        await Population.SegmentedAsync(server, customers: 300, seed: 9, k: 3);
        var first = (await server.Models.GetModelAsync(new GetModelRequest())).Version;
        var second = (await server.Models.RetrainAsync(new RetrainRequest { K = 4 })).ModelVersion;

        var listed = await Json(server, "models");
        var models = listed.GetProperty("models").EnumerateArray().ToList();
        Assert.Equal([second.ToString(), first.ToString()], models.Select(m => m.GetProperty("version").GetString()));
        Assert.False(models[0].TryGetProperty("retiredAt", out _));
        Assert.True(models[1].TryGetProperty("retiredAt", out _));
        var table = await EngineCli.RunAsync(server.GrpcAddress, "models", "--output", "table");
        Assert.True(table.ExitCode == 0, table.Err);
        Assert.Contains("current", table.Out);
        Assert.Contains("retired", table.Out);

        var compared = await Json(server, "models", "compare", first.ToString(), second.ToString());
        var counts = compared.GetProperty("counts").EnumerateArray().Select(c => long.Parse(c.GetString()!)).ToList();
        Assert.Equal((3, 4, 12), (compared.GetProperty("segmentIdsA").GetArrayLength(), compared.GetProperty("segmentIdsB").GetArrayLength(), counts.Count));
        Assert.Equal(300, counts.Sum());
        Assert.Equal("300", compared.GetProperty("customers").GetString());

        var rolledBack = await Json(server, "rollback", first.ToString());
        Assert.Equal(((second + 1).ToString(), 3), (rolledBack.GetProperty("modelVersion").GetString(), rolledBack.GetProperty("k").GetInt32()));
        var current = await server.Models.GetModelAsync(new GetModelRequest());
        Assert.Equal((second + 1, first), (current.Version, current.RolledBackFrom));

        var usage = await EngineCli.RunAsync(server.GrpcAddress, "models", "compare", "x", "2");
        Assert.Equal(2, usage.ExitCode);
        var unknown = await EngineCli.RunAsync(server.GrpcAddress, "rollback", "999");
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("999", unknown.Err);
    }

    private static async Task<JsonElement> Json(EngineServer server, params string[] args)
    {
        var result = await EngineCli.RunAsync(server.GrpcAddress, args);
        Assert.True(result.ExitCode == 0, $"engine {string.Join(' ', args)}: {result.Err}");
        return JsonDocument.Parse(result.Out).RootElement;
    }
}
