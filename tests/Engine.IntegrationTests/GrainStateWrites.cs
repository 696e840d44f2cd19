using Engine.Grains;
using Orleans.Storage;

namespace Engine.IntegrationTests;

/// <summary>
/// What a batched grain-state writer (SQLite or PostgreSQL) must keep of Orleans' provider behind it: its rows, its
/// keys for every key shape, its version check, and one winner among racing first writes.
/// </summary>
internal static class GrainStateWrites
{
    public static async Task KeepTheProvidersRowsAndVersionCheckAsync(IGrainStorage batched, IGrainStorage provider)
    {
        const string type = "customer";
        // Every key shape the provider tells apart, including strings that also read as integer keys.
        var special = new[]
        {
            GrainId.Create(type, "c1"), GrainId.Create(type, "123"), GrainId.Create(type, "c0ffee"), GrainId.Create(type, "kü/ß 名"),
            GrainId.Create(GrainType.Create(type), GrainIdKeyExtensions.CreateIntegerKey(42)),
            GrainId.Create(GrainType.Create(type), GrainIdKeyExtensions.CreateIntegerKey(-7, "ext")),
            GrainId.Create(GrainType.Create(type), GrainIdKeyExtensions.CreateGuidKey(Guid.NewGuid())),
            GrainId.Create(GrainType.Create(type), GrainIdKeyExtensions.CreateGuidKey(Guid.NewGuid(), "ext")),
        };
        var ids = special.Concat(Enumerable.Range(0, 500).Select(i => GrainId.Create(type, $"x{i}"))).ToArray();
        GrainState<CustomerState> State(long seq, string? etag = null) => new(new CustomerState { LogPosition = seq }, etag);

        // First writes, all at once so they go in batches; the provider reads each back.
        var written = ids.Select((_, i) => State(i)).ToArray();
        await Task.WhenAll(ids.Select((id, i) => batched.WriteStateAsync(type, id, written[i])));
        for (var i = 0; i < ids.Length; i++)
        {
            var read = State(-1);
            await provider.ReadStateAsync(type, ids[i], read);
            Assert.True(read.RecordExists, $"{ids[i]} was not found by the provider");
            Assert.Equal((i, "1"), (read.State!.LogPosition, read.ETag));
        }

        foreach (var id in special)
        {
            // The provider updates a row the batch wrote, and the other way round; a stale version fails on both.
            var current = State(0);
            await provider.ReadStateAsync(type, id, current);
            var stale = State(100, current.ETag);
            current.State!.LogPosition = 200;
            await provider.WriteStateAsync(type, id, current);
            await Assert.ThrowsAsync<InconsistentStateException>(() => batched.WriteStateAsync(type, id, stale));
            current.State!.LogPosition = 300;
            await batched.WriteStateAsync(type, id, current);
            Assert.Equal("3", current.ETag);
            var read = State(-1);
            await provider.ReadStateAsync(type, id, read);
            Assert.Equal((300L, "3"), (read.State!.LogPosition, read.ETag));
            // A first write of a row that exists is another writer's row.
            await Assert.ThrowsAsync<InconsistentStateException>(() => batched.WriteStateAsync(type, id, State(400)));
        }

        // Racing first writes of one new grain: exactly one wins, the others are told.
        var racers = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            try
            {
                await batched.WriteStateAsync(type, GrainId.Create(type, "race"), State(i));
                return true;
            }
            catch (InconsistentStateException)
            {
                return false;
            }
        }));
        Assert.Single(racers, won => won);
    }
}
