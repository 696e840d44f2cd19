using Engine.Storage;
using Microsoft.Data.Sqlite;

namespace Engine.IntegrationTests;

/// <summary>The audit log's two stores (011-audit-log.sql): entries as appended, newest first, in pages by id.</summary>
[Trait("Category", "Integration")]
public sealed class AuditLogTests
{
    [Fact]
    public async Task Sqlite_lists_entries_newest_first_in_pages()
    {
        var directory = Path.Combine(Path.GetTempPath(), "engine-audit-tests", Guid.NewGuid().ToString("N"));
        try
        {
            var database = new SqliteDatabase(directory);
            database.Migrate();
            using var log = new SqliteEventLog(database, new TransitionSignal());
            await ListsNewestFirstInPagesAsync(log);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [SkippableFact]
    public async Task Postgres_lists_entries_newest_first_in_pages()
    {
        await using var db = await Postgres.CreateDatabaseAsync();
        using var database = new PostgresDatabase(db.ConnectionString);
        database.Migrate();
        await ListsNewestFirstInPagesAsync(new PostgresEventLog(database, new TransitionSignal()));
    }

    private static async Task ListsNewestFirstInPagesAsync(IAuditLog log)
    {
        Assert.Empty(await log.ListAsync(0, 10));
        var before = DateTime.UtcNow.AddSeconds(-1);
        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await log.AppendAsync($"key-{i % 2}", "RenameSegment", $"seg-{i}", $"{{\"name\": \"n{i}\"}}", i == 3 ? "NOT_FOUND" : AuditLog.Ok));
        }
        Assert.Equal(ids.Order(), ids);
        var first = await log.ListAsync(0, 3);
        Assert.Equal(["seg-4", "seg-3", "seg-2"], first.Select(e => e.Target));
        var rest = await log.ListAsync(first[^1].Id, 3);
        Assert.Equal(["seg-1", "seg-0"], rest.Select(e => e.Target));
        var third = first[1];
        Assert.Equal(("key-1", "RenameSegment", "NOT_FOUND", "{\"name\": \"n3\"}", DateTimeKind.Utc), (third.Who, third.Action, third.Outcome, third.Details, third.At.Kind));
        Assert.InRange(third.At, before, DateTime.UtcNow.AddSeconds(1));
    }
}
