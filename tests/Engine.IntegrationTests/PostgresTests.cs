using Engine.Core;
using Engine.Api.V1;
using Engine.Grains;
using Engine.Server.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Engine.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Engine.IntegrationTests;

/// <summary>
/// PostgreSQL: our schema scripts against the 10.4.2 providers' contract, the event log's shared checks, and the
/// racing-first-write trap. The server on PostgreSQL through kill -9 is a process test (PostgresDurabilityTests).
/// </summary>
[Trait("Category", "Integration")]
public sealed class PostgresTests
{
    private static readonly string[] ProviderKeys =
    [
        "ReadFromStorageKey", "WriteToStorageKey", "ClearStorageKey", "DeleteStorageKey",
        "MembershipReadAllKey", "MembershipReadRowKey", "InsertMembershipKey", "InsertMembershipVersionKey",
        "UpdateMembershipKey", "UpdateIAmAlivetimeKey", "GatewaysQueryKey", "DeleteMembershipTableEntriesKey",
        "CleanupDefunctSiloEntriesKey", "CleanupDefunctSiloEntryKey",
        "ReadReminderRowKey", "ReadReminderRowsKey", "ReadRangeRows1Key", "ReadRangeRows2Key", "UpsertReminderRowKey",
        "DeleteReminderRowKey", "DeleteReminderRowsKey",
    ];

    [SkippableFact]
    public async Task The_schema_applies_twice_and_every_provider_query_runs()
    {
        await using var db = await Postgres.CreateDatabaseAsync();
        var cs = db.ConnectionString;
        using var database = new PostgresDatabase(cs);
        database.Migrate();
        database.Migrate();
        var queries = await QueriesAsync(cs);
        Assert.Equal(ProviderKeys.Order(), queries.Keys.Order());

        await using var c = new NpgsqlConnection(cs);
        await c.OpenAsync();
        // Whole milliseconds, as the provider passes back times it read from timestamptz(3) columns.
        var now = new DateTime(DateTime.UtcNow.Ticks / TimeSpan.TicksPerMillisecond * TimeSpan.TicksPerMillisecond, DateTimeKind.Utc);
        async Task<object?> Run(string key, params (string Name, object? Value, NpgsqlDbType Type)[] args)
        {
            await using var cmd = new NpgsqlCommand(queries[key], c);
            foreach (var (name, value, type) in args)
            {
                cmd.Parameters.Add(new NpgsqlParameter(name, type) { Value = value ?? DBNull.Value });
            }
            return await cmd.ExecuteScalarAsync();
        }
        (string, object?, NpgsqlDbType) P(string name, object? value, NpgsqlDbType type) => (name, value, type);
        var grain = new[]
        {
            P("GrainIdHash", 7, NpgsqlDbType.Integer), P("GrainIdN0", 1L, NpgsqlDbType.Bigint), P("GrainIdN1", 2L, NpgsqlDbType.Bigint),
            P("GrainTypeHash", 9, NpgsqlDbType.Integer), P("GrainTypeString", "customer", NpgsqlDbType.Varchar),
            P("GrainIdExtensionString", null, NpgsqlDbType.Varchar), P("ServiceId", "engine", NpgsqlDbType.Varchar),
        };
        (string, object?, NpgsqlDbType)[] With(int? version, params (string, object?, NpgsqlDbType)[] more) =>
            [.. grain, P("GrainStateVersion", version, NpgsqlDbType.Integer), .. more];

        // Persistence: insert, conflicting insert, update, stale update, read, clear, delete.
        Assert.Equal(1, await Run("WriteToStorageKey", With(null, P("PayloadBinary", new byte[] { 1 }, NpgsqlDbType.Bytea))));
        Assert.Null(await Run("WriteToStorageKey", With(null, P("PayloadBinary", new byte[] { 2 }, NpgsqlDbType.Bytea))));
        Assert.Equal(2, await Run("WriteToStorageKey", With(1, P("PayloadBinary", new byte[] { 3 }, NpgsqlDbType.Bytea))));
        Assert.Null(await Run("WriteToStorageKey", With(1, P("PayloadBinary", new byte[] { 4 }, NpgsqlDbType.Bytea))));
        Assert.Equal(new byte[] { 3 }, await Run("ReadFromStorageKey", grain));
        // A clear deletes the row (012-orleans-clear-deletes.sql: its key names the customer, and erasure leaves no trace).
        Assert.Equal(3, await Run("ClearStorageKey", With(2)));
        Assert.Null(await Run("ReadFromStorageKey", grain));
        Assert.Equal(1, await Run("WriteToStorageKey", With(null, P("PayloadBinary", new byte[] { 5 }, NpgsqlDbType.Bytea))));
        await Run("DeleteStorageKey", With(1));
        Assert.Null(await Run("ReadFromStorageKey", grain));

        // Clustering: version row, a silo joins (only at the current version), is updated, heartbeats, dies, is cleaned up.
        var deployment = P("DeploymentId", "engine", NpgsqlDbType.Varchar);
        var silo = new[] { deployment, P("Address", "127.0.0.1", NpgsqlDbType.Varchar), P("Port", 11111, NpgsqlDbType.Integer), P("Generation", 1, NpgsqlDbType.Integer) };
        Assert.Equal(1, await Run("InsertMembershipVersionKey", deployment));
        Assert.Equal(0, await Run("InsertMembershipVersionKey", deployment));
        var row = new[]
        {
            P("SiloName", "s1", NpgsqlDbType.Varchar), P("HostName", "h", NpgsqlDbType.Varchar), P("Status", 3, NpgsqlDbType.Integer),
            P("ProxyPort", 30000, NpgsqlDbType.Integer), P("StartTime", now, NpgsqlDbType.TimestampTz), P("IAmAliveTime", now, NpgsqlDbType.TimestampTz),
        };
        Assert.Equal(0, await Run("InsertMembershipKey", [.. silo, .. row, P("Version", 5, NpgsqlDbType.Integer)]));
        Assert.Equal(1, await Run("InsertMembershipKey", [.. silo, .. row, P("Version", 0, NpgsqlDbType.Integer)]));
        Assert.Equal("127.0.0.1", await Run("GatewaysQueryKey", deployment, P("Status", 3, NpgsqlDbType.Integer)));
        Assert.Equal("engine", await Run("MembershipReadRowKey", silo));
        Assert.Equal("engine", await Run("MembershipReadAllKey", deployment));
        await Run("UpdateIAmAlivetimeKey", [.. silo, P("IAmAliveTime", now.AddSeconds(5), NpgsqlDbType.TimestampTz)]);
        var dead = new[] { P("Status", 6, NpgsqlDbType.Integer), P("SuspectTimes", null, NpgsqlDbType.Varchar), P("IAmAliveTime", now.AddSeconds(6), NpgsqlDbType.TimestampTz) };
        Assert.Equal(0, await Run("UpdateMembershipKey", [.. silo, .. dead, P("Version", 0, NpgsqlDbType.Integer)]));
        Assert.Equal(1, await Run("UpdateMembershipKey", [.. silo, .. dead, P("Version", 1, NpgsqlDbType.Integer)]));
        await Run("CleanupDefunctSiloEntryKey", [.. silo, P("IAmAliveTime", now.AddSeconds(6), NpgsqlDbType.TimestampTz),
            P("StartTime", now, NpgsqlDbType.TimestampTz), P("SuspectTimes", null, NpgsqlDbType.Varchar)]);
        Assert.Null(await Run("GatewaysQueryKey", deployment, P("Status", 6, NpgsqlDbType.Integer)));
        await Run("CleanupDefunctSiloEntriesKey", deployment, P("IAmAliveTime", now.AddDays(1), NpgsqlDbType.TimestampTz));
        await Run("DeleteMembershipTableEntriesKey", deployment);
        Assert.Null(await Run("MembershipReadAllKey", deployment));

        // Reminders.
        var reminder = new[] { P("ServiceId", "engine", NpgsqlDbType.Varchar), P("GrainId", "g1", NpgsqlDbType.Varchar), P("ReminderName", "r", NpgsqlDbType.Varchar) };
        var schedule = new[] { P("StartTime", now, NpgsqlDbType.TimestampTz), P("Period", 60_000L, NpgsqlDbType.Bigint), P("GrainHash", 100, NpgsqlDbType.Integer) };
        Assert.Equal(0, await Run("UpsertReminderRowKey", [.. reminder, .. schedule]));
        Assert.Equal(1, await Run("UpsertReminderRowKey", [.. reminder, .. schedule]));
        Assert.Equal("g1", await Run("ReadReminderRowKey", reminder));
        Assert.Equal("g1", await Run("ReadReminderRowsKey", reminder[0], reminder[1]));
        Assert.Equal("g1", await Run("ReadRangeRows1Key", reminder[0], P("BeginHash", 50, NpgsqlDbType.Integer), P("EndHash", 150, NpgsqlDbType.Integer)));
        Assert.Null(await Run("ReadRangeRows1Key", reminder[0], P("BeginHash", 150, NpgsqlDbType.Integer), P("EndHash", 250, NpgsqlDbType.Integer)));
        Assert.Equal("g1", await Run("ReadRangeRows2Key", reminder[0], P("BeginHash", 150, NpgsqlDbType.Integer), P("EndHash", 120, NpgsqlDbType.Integer)));
        Assert.Equal(0, await Run("DeleteReminderRowKey", [.. reminder, P("Version", 0, NpgsqlDbType.Integer)]));
        Assert.Equal(1, await Run("DeleteReminderRowKey", [.. reminder, P("Version", 1, NpgsqlDbType.Integer)]));
        await Run("UpsertReminderRowKey", [.. reminder, .. schedule]);
        await Run("DeleteReminderRowsKey", reminder[0]);
        Assert.Null(await Run("ReadReminderRowKey", reminder));
    }

    [SkippableFact]
    public Task The_transition_log_returns_the_transitions_it_wrote_and_not_the_repeats() =>
        WithEventLogAsync(SqliteEventLogTests.RepeatsAreIgnoredAndNotReturnedAsync);

    [SkippableFact]
    public Task A_move_counts_as_moved_again_by_the_customers_numbering_not_the_log_order() =>
        WithEventLogAsync(SqliteEventLogTests.MovedAgainFollowsTheCustomersNumbersAsync);

    [SkippableFact]
    public Task Appends_at_once_each_get_back_the_transitions_they_added_and_each_is_kept_once() =>
        WithEventLogAsync(SqliteEventLogTests.AppendsAtOnceAsync);

    [SkippableFact]
    public Task A_recovery_read_returns_the_tail_and_the_moves_by_silence_after_the_number_asked() =>
        WithEventLogAsync(SqliteEventLogTests.RecoveryTailAsync);

    [SkippableFact]
    public Task A_batch_with_known_and_repeated_event_ids_appends_the_rest_in_order() =>
        WithEventLogAsync(SqliteEventLogTests.KnownAndRepeatedIdsAreSkippedAsync);

    [SkippableFact]
    public Task The_quarantine_holds_records_with_their_events_discards_and_removes_them() =>
        WithEventLogAsync(SqliteEventLogTests.QuarantineHoldsDiscardsAndRemovesAsync);

    /// <summary>Runs a test shared with SQLite's event log against the PostgreSQL one, in a fresh database.</summary>
    private static async Task WithEventLogAsync(Func<PostgresEventLog, Task> test)
    {
        await using var db = await Postgres.CreateDatabaseAsync();
        using var database = new PostgresDatabase(db.ConnectionString);
        database.Migrate();
        await test(new PostgresEventLog(database, new TransitionSignal()));
    }

    [SkippableFact]
    public async Task Two_silos_appending_at_once_give_every_event_its_own_position_in_batch_order()
    {
        // Positions are assigned by the writer under the log's lock, not by the column's identity: two writers that
        // read the same head would collide, and a batch whose positions interleave with another's would break cursors.
        await using var db = await Postgres.CreateDatabaseAsync();
        var connectionString = db.ConnectionString;
        using var first = new PostgresDatabase(connectionString);
        first.Migrate();
        using var second = new PostgresDatabase(connectionString);
        var at = new DateTime(2026, 3, 1, 0, 0, 0, DateTimeKind.Utc);
        async Task<(PendingEvent[] Batch, AppendResult Result)[]> WriteAsync(PostgresDatabase db, string silo) =>
            await Task.WhenAll(Enumerable.Range(0, 20).Select(async b =>
            {
                var batch = Enumerable.Range(0, 50)
                    .Select(i => new PendingEvent($"{silo}-{b}-{i}", $"c{i % 7}", EventKind.Purchase, at, i, i % 2 == 0 ? null : "books", null)).ToArray();
                return (batch, await new PostgresEventLog(db, new TransitionSignal()).AppendAsync(batch, at, b));
            }));

        var appends = (await Task.WhenAll(WriteAsync(first, "a"), WriteAsync(second, "b"))).SelectMany(x => x).ToArray();

        foreach (var (_, result) in appends)
        {
            Assert.Equal(Enumerable.Range(1, 50).Select(i => result.Before + i), result.Seqs);
        }
        var stored = await new PostgresEventLog(first, new TransitionSignal()).ReadCustomersAsync([.. Enumerable.Range(0, 7).Select(i => $"c{i}")], 0, long.MaxValue);
        Assert.Equal(Enumerable.Range(1, 2_000).Select(i => (long)i), stored.Select(e => e.LogPosition));
        var written = appends.SelectMany(a => a.Batch.Zip(a.Result.Seqs)).ToDictionary(x => x.Second, x => x.First);
        Assert.All(stored, e => Assert.Equal((written[e.LogPosition].EventId, written[e.LogPosition].Category, written[e.LogPosition].Amount), (e.EventId, e.Category, e.Amount)));
    }

    [Fact]
    public void Connections_prepare_their_repeated_statements_unless_the_operator_said_otherwise()
    {
        var tuned = new NpgsqlConnectionStringBuilder(PostgresDatabase.WithPool("Host=db;Username=engine", 10));
        Assert.Equal((10, 32, true), (tuned.MaxPoolSize, tuned.MaxAutoPrepare, tuned.NoResetOnClose));
        // Behind a pooler that cannot keep prepared statements, for instance.
        Assert.Equal(0, new NpgsqlConnectionStringBuilder(PostgresDatabase.WithPool("Host=db;Max Auto Prepare=0", 10)).MaxAutoPrepare);
        Assert.Equal(5, new NpgsqlConnectionStringBuilder(PostgresDatabase.WithPool("Host=db;maxautoprepare=5", 10)).MaxAutoPrepare);
        Assert.False(new NpgsqlConnectionStringBuilder(PostgresDatabase.WithPool("Host=db;No Reset On Close=false", 10)).NoResetOnClose);
    }

    [SkippableFact]
    public async Task Racing_first_writes_of_one_grain_leave_exactly_one_row()
    {
        await using var db = await Postgres.CreateDatabaseAsync();
        var cs = db.ConnectionString;
        using var database = new PostgresDatabase(cs);
        database.Migrate();
        var write = (await QueriesAsync(cs))["WriteToStorageKey"];
        for (var grain = 0; grain < 40; grain++)
        {
            var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(async writer =>
            {
                await using var c = new NpgsqlConnection(cs);
                await c.OpenAsync();
                await using var cmd = new NpgsqlCommand(write, c);
                cmd.Parameters.Add(new NpgsqlParameter("GrainIdHash", NpgsqlDbType.Integer) { Value = grain });
                cmd.Parameters.Add(new NpgsqlParameter("GrainIdN0", NpgsqlDbType.Bigint) { Value = 0L });
                cmd.Parameters.Add(new NpgsqlParameter("GrainIdN1", NpgsqlDbType.Bigint) { Value = 0L });
                cmd.Parameters.Add(new NpgsqlParameter("GrainTypeHash", NpgsqlDbType.Integer) { Value = 1 });
                cmd.Parameters.Add(new NpgsqlParameter("GrainTypeString", NpgsqlDbType.Varchar) { Value = "customer" });
                cmd.Parameters.Add(new NpgsqlParameter("GrainIdExtensionString", NpgsqlDbType.Varchar) { Value = $"c{grain}" });
                cmd.Parameters.Add(new NpgsqlParameter("ServiceId", NpgsqlDbType.Varchar) { Value = "engine" });
                cmd.Parameters.Add(new NpgsqlParameter("GrainStateVersion", NpgsqlDbType.Integer) { Value = DBNull.Value });
                cmd.Parameters.Add(new NpgsqlParameter("PayloadBinary", NpgsqlDbType.Bytea) { Value = new[] { (byte)writer } });
                return await cmd.ExecuteScalarAsync();
            }));
            Assert.Single(results, r => r is 1);
        }
        await using var check = new NpgsqlConnection(cs);
        await check.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT COUNT(*), COUNT(DISTINCT GrainIdExtensionString) FROM OrleansStorage", check);
        await using var r = await count.ExecuteReaderAsync();
        await r.ReadAsync();
        Assert.Equal((40L, 40L), (r.GetInt64(0), r.GetInt64(1)));
    }

    [SkippableFact]
    public async Task Batched_grain_state_writes_keep_the_providers_rows_and_version_check()
    {
        await using var db = await Postgres.CreateDatabaseAsync();
        var cs = db.ConnectionString;
        await using var server = await new EngineServer(settings: new() { ["Engine:Storage"] = "postgres", ["Engine:ConnectionString"] = cs }).StartAsync();
        var batched = Assert.IsType<PostgresBatchedWrites>(server.Services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Engine));
        var provider = server.Services.GetRequiredKeyedService<IGrainStorage>(StorageNames.EnginePostgres);
        await GrainStateWrites.KeepTheProvidersRowsAndVersionCheckAsync(batched, provider);

        const string type = "customer";
        GrainState<CustomerState> State(long seq) => new(new CustomerState { LogPosition = seq });
        // A write the server refuses (a key longer than the column) fails alone; the writes batched with it land.
        var tooLong = GrainId.Create(type, new string('k', 600));
        var neighbours = Enumerable.Range(0, 60).Select(i => GrainId.Create(type, $"n{i}")).ToArray();
        var before = neighbours[..30].Select(id => batched.WriteStateAsync(type, id, State(2))).ToArray();
        var refused = batched.WriteStateAsync(type, tooLong, State(1));
        var after = neighbours[30..].Select(id => batched.WriteStateAsync(type, id, State(2))).ToArray();
        await Task.WhenAll([.. before, .. after]);
        await Assert.ThrowsAsync<Npgsql.PostgresException>(() => refused);
        foreach (var id in neighbours)
        {
            var read = State(-1);
            await provider.ReadStateAsync(type, id, read);
            Assert.Equal(2, read.State!.LogPosition);
        }
    }

    private static async Task<Dictionary<string, string>> QueriesAsync(string cs)
    {
        await using var c = new NpgsqlConnection(cs);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT QueryKey, QueryText FROM OrleansQuery", c);
        await using var r = await cmd.ExecuteReaderAsync();
        var queries = new Dictionary<string, string>();
        while (await r.ReadAsync())
        {
            queries[r.GetString(0)] = r.GetString(1);
        }
        return queries;
    }
}
