using Engine.Grains;
using Engine.Storage;
using Engine.TestKit;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace Engine.IntegrationTests;

/// <summary>
/// Orleans' SQLite grain storage runs through <see cref="OrleansSqliteDataSource"/>: a parameter Orleans names bare
/// must bind to our '@' placeholders with its name already prefixed (so Microsoft.Data.Sqlite does not search for it).
/// </summary>
[Trait("Category", "Integration")]
public sealed class OrleansSqliteDataSourceTests
{
    [Fact]
    public async Task Bare_parameter_names_get_the_at_prefix_and_bind_as_orleans_adds_them()
    {
        var file = Path.Combine(Path.GetTempPath(), $"engine-datasource-{Guid.NewGuid():N}.db");
        try
        {
            await using var source = new OrleansSqliteDataSource(new SqliteConnectionStringBuilder { DataSource = file }.ToString());
            await using var connection = await source.OpenConnectionAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT @GrainIdHash + $Other";
            // As Orleans' DbExtensions.CreateParameter does: from the command, then the name, then the value.
            foreach (var (name, value) in new[] { ("GrainIdHash", 40L), ("$Other", 2L) })
            {
                var p = command.CreateParameter();
                p.ParameterName = name;
                p.Value = value;
                command.Parameters.Add(p);
            }

            Assert.Equal(["@GrainIdHash", "$Other"], command.Parameters.Cast<SqliteParameter>().Select(p => p.ParameterName));
            Assert.Equal(42L, await command.ExecuteScalarAsync());
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Batched_grain_state_writes_keep_the_providers_rows_and_version_check_and_reads_answer_as_it()
    {
        await using var server = await new EngineServer().StartAsync();
        var batched = Assert.IsType<SqliteBatchedWrites>(server.Services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Engine));
        var provider = server.Services.GetRequiredKeyedService<IGrainStorage>(StorageNames.EngineSqlite);
        await GrainStateWrites.KeepTheProvidersRowsAndVersionCheckAsync(batched, provider);
        await GrainStateWrites.ReadLikeTheProviderAsync(batched, provider);

        // A row without its payload (what a clear left before 012-orleans-clear-deletes.sql): a new state and the row's
        // version, and no record, from either.
        var legacy = GrainId.Create("customer", "cleared-before-012");
        await provider.WriteStateAsync("customer", legacy, new GrainState<CustomerState>(new CustomerState { LogPosition = 5 }));
        await using (var c = new SqliteConnection(server.Services.GetRequiredService<SqliteDatabase>().OrleansConnectionString))
        {
            await c.OpenAsync();
            await using var clear = c.CreateCommand();
            clear.CommandText = "UPDATE OrleansStorage SET PayloadBinary = NULL, Version = Version + 1 WHERE GrainIdExtensionString = 'cleared-before-012'";
            Assert.Equal(1, await clear.ExecuteNonQueryAsync());
        }
        var (mine, theirs) = (new GrainState<CustomerState>(new CustomerState { LogPosition = -1 }), new GrainState<CustomerState>(new CustomerState { LogPosition = -1 }));
        await batched.ReadStateAsync("customer", legacy, mine);
        await provider.ReadStateAsync("customer", legacy, theirs);
        Assert.Equal((0L, "2", false), (theirs.State!.LogPosition, theirs.ETag, theirs.RecordExists));
        Assert.Equal((0L, "2", false), (mine.State!.LogPosition, mine.ETag, mine.RecordExists));

        // A write the database refuses (here a trigger's abort) fails alone; the writes batched with it land.
        await using (var c = new SqliteConnection(server.Services.GetRequiredService<SqliteDatabase>().OrleansConnectionString))
        {
            await c.OpenAsync();
            await using var trigger = c.CreateCommand();
            trigger.CommandText = """
                CREATE TRIGGER refuse_test_row BEFORE INSERT ON OrleansStorage WHEN NEW.GrainIdExtensionString = 'refused'
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;
                """;
            await trigger.ExecuteNonQueryAsync();
        }
        const string type = "customer";
        GrainState<CustomerState> State(long seq) => new(new CustomerState { LogPosition = seq });
        var neighbours = Enumerable.Range(0, 600).Select(i => GrainId.Create(type, $"n{i}")).ToArray();
        var before = neighbours[..300].Select(id => batched.WriteStateAsync(type, id, State(2))).ToArray();
        var refused = batched.WriteStateAsync(type, GrainId.Create(type, "refused"), State(1));
        var after = neighbours[300..].Select(id => batched.WriteStateAsync(type, id, State(2))).ToArray();
        await Task.WhenAll([.. before, .. after]);
        Assert.Contains("refused by the test", (await Assert.ThrowsAsync<SqliteException>(() => refused)).Message);
        foreach (var id in neighbours)
        {
            var read = State(-1);
            await provider.ReadStateAsync(type, id, read);
            Assert.Equal((2L, "1"), (read.State!.LogPosition, read.ETag));
        }
    }
}
