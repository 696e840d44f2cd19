using Npgsql;

namespace Engine.TestKit;

/// <summary>
/// A fresh PostgreSQL database per test, dropped when the test is done with it. The server comes from
/// ENGINE_TEST_POSTGRES (default: the local Debian cluster as .ci/run sets it up). Without a reachable server the tests
/// are skipped on a developer machine and fail in CI (CI=true), where they must run for real.
/// </summary>
public static class Postgres
{
    public static string Server => Environment.GetEnvironmentVariable("ENGINE_TEST_POSTGRES")
        ?? "Host=127.0.0.1;Username=postgres;Password=postgres;Timeout=5";

    public static async Task<TestDatabase> CreateDatabaseAsync()
    {
        try
        {
            await using var c = new NpgsqlConnection(Server);
            await c.OpenAsync();
            var database = Reserve();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {database.Name}", c);
            await cmd.ExecuteNonQueryAsync();
            return database;
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException
                                  && Environment.GetEnvironmentVariable("CI") != "true")
        {
            Skip.If(true, $"PostgreSQL is not reachable ({e.Message}); set ENGINE_TEST_POSTGRES or run .ci/run");
            throw;
        }
    }

    /// <summary>
    /// A new database name and the handle that drops it, for a database the test creates itself (with createdb, say).
    /// </summary>
    public static TestDatabase Reserve()
    {
        var name = $"engine_test_{Guid.NewGuid():N}"[..28];
        return new TestDatabase(name, new NpgsqlConnectionStringBuilder(Server) { Database = name }.ConnectionString);
    }
}

/// <summary>
/// A test's database. Disposing it drops the database, so running the tests again and again on a developer's own
/// PostgreSQL leaves nothing behind; declare it before whatever connects to it, so it is disposed after them.
/// </summary>
public sealed class TestDatabase(string name, string connectionString) : IAsyncDisposable
{
    public string Name => name;

    public string ConnectionString => connectionString;

    public async ValueTask DisposeAsync()
    {
        // This process's idle pooled connections would otherwise keep the database in use; FORCE ends any other
        // session still open on it (a silo process killed by the test, a server still shutting down).
        await using (var pooled = new NpgsqlConnection(connectionString))
        {
            NpgsqlConnection.ClearPool(pooled);
        }
        await using var c = new NpgsqlConnection(Postgres.Server);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", c);
        await cmd.ExecuteNonQueryAsync();
    }
}
