using Microsoft.Data.Sqlite;

namespace Engine.ProcessTests;

/// <summary>
/// Backups of the embedded store taken while a real server ingests, restored and started: every event acknowledged
/// before the backup began is there once, and the population adds up (docs/operations.md, "Backup and restore").
/// </summary>
[Collection(ServerProcesses.Name)]
[Trait("Category", "Process")]
public sealed class BackupTests
{
    [Fact]
    public async Task A_backup_under_ingest_load_restores_every_event_acknowledged_before_it_once()
    {
        // Checkpoints keep moving while the backup runs: the copy must not take one that its grain state lacks.
        var config = new EngineServer(settings: BackupUnderLoad.Settings(("Engine:CheckpointInterval", "00:00:00.500")));
        await using var process = new EngineProcess(config);
        await process.StartAsync();
        var backupDirectory = Path.Combine(TempDirectory.Create(), "backup");
        var load = await BackupUnderLoad.IngestAsync(config, seed: 71, async () =>
        {
            var backup = await EngineCli.RunAsync(config.GrpcAddress, "--output", "json", "admin", "backup", "--out", backupDirectory);
            Assert.True(backup.ExitCode == 0, backup.Err);
            Assert.Contains("\"logPosition\"", backup.Out);
        });
        // The copy holds nothing the running silo recorded about itself (applied positions and applied times).
        await using (var copy = new SqliteConnection($"Data Source={Path.Combine(backupDirectory, "log.db")};Pooling=False"))
        {
            await copy.OpenAsync();
            await using var keys = new SqliteCommand("SELECT COUNT(*) FROM engine_meta WHERE key LIKE 'applied%'", copy);
            Assert.Equal(0L, await keys.ExecuteScalarAsync());
        }
        var again = await EngineCli.RunAsync(config.GrpcAddress, "admin", "backup", "--out", backupDirectory);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("ALREADY_EXISTS", again.Err);
        await process.TerminateAsync();

        // Restore refuses a directory that holds a store, then restores into a new one.
        var refused = await EngineCli.RunAsync(config.GrpcAddress, "admin", "restore", "--from", backupDirectory, "--data-dir", config.DataDirectory);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("already holds", refused.Err);
        var restoredDirectory = TempDirectory.Create();
        var restore = await EngineCli.RunAsync(config.GrpcAddress, "admin", "restore", "--from", backupDirectory, "--data-dir", restoredDirectory);
        Assert.True(restore.ExitCode == 0, restore.Err);

        var restored = new EngineServer(restoredDirectory, BackupUnderLoad.Settings());
        await using var second = new EngineProcess(restored);
        await second.StartAsync();
        await load.AssertRestoredAsync(restored);
    }
}
