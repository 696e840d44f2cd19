using Engine.Grains;
using Orleans.Storage;

namespace Engine.IntegrationTests;

/// <summary>
/// What a batched grain-state writer (SQLite or PostgreSQL) must keep of Orleans' provider behind it: its rows, its
/// keys for every key shape, its version check, and one winner among racing first writes.
/// </summary>
internal static class GrainStateWrites
{
    private const string Type = "customer";

    /// <summary>Every key shape the provider tells apart, including strings that also read as integer keys.</summary>
    private static GrainId[] KeyShapes(string prefix) =>
    [
        GrainId.Create(Type, $"{prefix}c1"), GrainId.Create(Type, prefix.Length == 0 ? "123" : "456"), GrainId.Create(Type, $"{prefix}c0ffee"), GrainId.Create(Type, $"{prefix}kü/ß 名"),
        GrainId.Create(GrainType.Create(Type), GrainIdKeyExtensions.CreateIntegerKey(42 + prefix.Length)),
        GrainId.Create(GrainType.Create(Type), GrainIdKeyExtensions.CreateIntegerKey(-7, $"{prefix}ext")),
        GrainId.Create(GrainType.Create(Type), GrainIdKeyExtensions.CreateGuidKey(Guid.NewGuid())),
        GrainId.Create(GrainType.Create(Type), GrainIdKeyExtensions.CreateGuidKey(Guid.NewGuid(), $"{prefix}ext")),
    ];

    private static GrainState<CustomerState> State(long seq, string? etag = null) => new(new CustomerState { LogPosition = seq }, etag);

    /// <summary>
    /// The batched storage's reads answer as the provider's for every key shape: a row that is not there, one the
    /// provider wrote (twice), one it cleared; also many at once.
    /// </summary>
    public static async Task ReadLikeTheProviderAsync(IGrainStorage batched, IGrainStorage provider)
    {
        async Task AgreeAsync(GrainId id, long expected, bool exists)
        {
            var (mine, theirs) = (State(-1, "stale"), State(-1, "stale"));
            await batched.ReadStateAsync(Type, id, mine);
            await provider.ReadStateAsync(Type, id, theirs);
            Assert.Equal((theirs.State!.LogPosition, theirs.ETag, theirs.RecordExists), (mine.State!.LogPosition, mine.ETag, mine.RecordExists));
            Assert.Equal((expected, exists), (mine.State.LogPosition, mine.RecordExists));
        }
        var ids = KeyShapes("read-");
        foreach (var id in ids)
        {
            await AgreeAsync(id, 0, exists: false);
            var state = State(0);
            for (var seq = 1; seq <= 2; seq++)
            {
                state.State!.LogPosition = seq * 10;
                await provider.WriteStateAsync(Type, id, state);
                await AgreeAsync(id, seq * 10, exists: true);
            }
            // A clear deletes the row (012-orleans-clear-deletes.sql): read as one never written.
            await provider.ClearStateAsync(Type, id, state);
            await AgreeAsync(id, 0, exists: false);
        }
        var many = Enumerable.Range(0, 200).Select(i => GrainId.Create(Type, $"read-many-{i}")).ToArray();
        await Task.WhenAll(many.Select((id, i) => provider.WriteStateAsync(Type, id, State(i))));
        var reads = await Task.WhenAll(many.Select(async id =>
        {
            var read = State(-1);
            await Task.Run(() => batched.ReadStateAsync(Type, id, read));
            return read;
        }));
        Assert.Equal(Enumerable.Range(0, 200).Select(i => ((long)i, (string?)"1", true)), reads.Select(r => (r.State!.LogPosition, r.ETag, r.RecordExists)));
    }

    public static async Task KeepTheProvidersRowsAndVersionCheckAsync(IGrainStorage batched, IGrainStorage provider)
    {
        const string type = Type;
        var special = KeyShapes("");
        var ids = special.Concat(Enumerable.Range(0, 500).Select(i => GrainId.Create(type, $"x{i}"))).ToArray();

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
