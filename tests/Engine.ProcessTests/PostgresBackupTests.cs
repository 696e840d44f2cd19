using Npgsql;

namespace Engine.ProcessTests;

/// <summary>
/// The PostgreSQL backup procedure of docs/operations.md ("Backup and restore"), run as written: pg_dump while a real
/// server ingests, pg_restore into a new database, the clean-up, and a server started on the copy.
/// </summary>
[Collection(ServerProcesses.Name)]
[Trait("Category", "Process")]
public sealed class PostgresBackupTests
{
    /// <summary>The PostgreSQL client programs of the server version the engine supports (a newer pg_dump writes dumps an older pg_restore cannot read).</summary>
    private const string Bin = "/usr/lib/postgresql/15/bin";

    // The documented command lines, with the names the docs use for the databases in braces.
    private const string Dump = "pg_dump -Fc --exclude-table-data='orleansmembership*' -d {source} -f engine.dump";
    private const string Create = "createdb {restored}";
    private const string Restore = "pg_restore --no-owner -d {restored} engine.dump";
    private const string Cleanup = "psql -d {restored} -c \"DELETE FROM engine_meta WHERE key LIKE 'applied%'\"";

    [SkippableFact]
    public async Task A_pg_dump_under_ingest_load_restores_every_event_acknowledged_before_it_once()
    {
        var docs = await File.ReadAllTextAsync(Repository.PathOf("docs", "operations.md"));
        foreach (var line in new[] { Dump, Create, Restore, Cleanup })
        {
            Assert.Contains(line.Replace("{source}", "engine").Replace("{restored}", "engine_restored"), docs);
        }
        await using var source = await Postgres.CreateDatabaseAsync();
        await Tool.Require("postgresql-client-15",
            () => Task.FromResult(File.Exists(Path.Combine(Bin, "pg_restore"))),
            () => Tool.RunAsync("sh", ["-c", "apt-get install -y -qq postgresql-client-15 || (apt-get update -qq && apt-get install -y -qq postgresql-client-15)"],
                environment: new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" }));
        await using var restoredDatabase = Postgres.Reserve();
        var work = TempDirectory.Create();
        var connection = new NpgsqlConnectionStringBuilder(source.ConnectionString);
        async Task Run(string line)
        {
            var command = line.Replace("{source}", source.Name).Replace("{restored}", restoredDatabase.Name);
            var result = await Tool.RunAsync("sh", ["-c", command], work, new Dictionary<string, string>
            {
                ["PATH"] = $"{Bin}:{Environment.GetEnvironmentVariable("PATH")}",
                ["PGHOST"] = connection.Host!,
                ["PGPORT"] = connection.Port.ToString(),
                ["PGUSER"] = connection.Username!,
                ["PGPASSWORD"] = connection.Password ?? "",
            }, timeoutSeconds: 120);
            Assert.True(result.ExitCode == 0, $"{command}:\n{result.All}");
        }

        var config = new EngineServer(settings: BackupUnderLoad.Settings(
            ("Engine:Storage", "postgres"),
            ("Engine:ConnectionString", source.ConnectionString),
            // Checkpoints keep moving while the dump runs.
            ("Engine:CheckpointInterval", "00:00:00.500")));
        await using var process = new EngineProcess(config);
        await process.StartAsync();
        var load = await BackupUnderLoad.IngestAsync(config, seed: 73, () => Run(Dump));
        await process.TerminateAsync();

        await Run(Create);
        await Run(Restore);
        // The copy has no membership rows, and holds what the running silo recorded about itself until the clean-up.
        Assert.Equal(0L, await ScalarAsync(restoredDatabase, "SELECT COUNT(*) FROM orleansmembershiptable"));
        Assert.True(await ScalarAsync(restoredDatabase, "SELECT COUNT(*) FROM engine_meta WHERE key LIKE 'applied:%'") > 0);
        Assert.True(await ScalarAsync(restoredDatabase, "SELECT COUNT(*) FROM engine_meta WHERE key LIKE 'applied!_at:%' ESCAPE '!'") > 0);
        await Run(Cleanup);
        Assert.Equal(0L, await ScalarAsync(restoredDatabase, "SELECT COUNT(*) FROM engine_meta WHERE key LIKE 'applied%'"));

        var restored = new EngineServer(settings: BackupUnderLoad.Settings(
            ("Engine:Storage", "postgres"),
            ("Engine:ConnectionString", restoredDatabase.ConnectionString)));
        await using var second = new EngineProcess(restored);
        await second.StartAsync();
        await load.AssertRestoredAsync(restored);
        // The copy's checkpoint follows the restored silo alone: no applied position of the backed-up silo holds it back.
        var head = await ScalarAsync(restoredDatabase, "SELECT MAX(seq) FROM ingest_log");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await ScalarAsync(restoredDatabase, Checkpoint) < head && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
        Assert.Equal(head, await ScalarAsync(restoredDatabase, Checkpoint));
    }

    private const string Checkpoint = "SELECT value FROM engine_meta WHERE key = 'checkpoint_seq'";

    private static async Task<long> ScalarAsync(TestDatabase database, string sql)
    {
        await using var c = new NpgsqlConnection(database.ConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
