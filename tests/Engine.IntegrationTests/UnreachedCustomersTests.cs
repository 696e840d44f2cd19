using System.Collections.Concurrent;
using Engine.Api.V1;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.IntegrationTests;

/// <summary>
/// A customer a model's rollout could not reach (every call to it failed, as calls to a silo going away do) still gets
/// its first segment once it answers, with no event of its own: after an import in event time none may ever come.
/// </summary>
[Trait("Category", "Integration")]
public sealed class UnreachedCustomersTests
{
    /// <summary>Fails every call to the named customers' grains while they are in the set.</summary>
    private sealed class Unreachable : IIncomingGrainCallFilter
    {
        public ConcurrentDictionary<string, bool> Customers { get; } = new();

        public Task Invoke(IIncomingGrainCallContext context) =>
            Customers.ContainsKey(context.TargetId.Key.ToString())
                ? throw new InvalidOperationException($"customer {context.TargetId.Key} is unreachable (test fault)")
                : context.Invoke();
    }

    [Fact]
    public async Task Customers_the_first_rollout_could_not_reach_get_a_segment_once_they_answer()
    {
        var unreachable = new Unreachable();
        await using var server = new EngineServer(configure: b => b.Services.AddSingleton<IIncomingGrainCallFilter>(unreachable));
        await server.StartAsync();
        var data = Synthetic.Generate(customers: 300, seed: 43);
        await server.IngestAllAsync(data.Events, 500);
        var ids = data.CustomerIds.ToList();
        var cut = ids.Take(5).ToList();
        foreach (var id in cut)
        {
            unreachable.Customers[id] = true;
        }

        await server.Models.RetrainAsync(new RetrainRequest { K = 3 });
        Assert.Equal(ids.Count - cut.Count, await SizesAsync(server));

        unreachable.Customers.Clear();
        Assert.Equal(ids.Count, await Poll.UntilAsync(() => SizesAsync(server), n => n == ids.Count));
        Assert.All(await Population.CustomersAsync(server, cut), c => Assert.Equal(1, c.ModelVersion));
        await Population.AssertMatrixMatchesHistoriesAsync(server, ids);
    }

    private static async Task<long> SizesAsync(EngineServer server) =>
        (await server.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments.Sum(s => s.Size);
}
