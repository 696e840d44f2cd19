using Npgsql;

namespace Engine.Tests;

/// <summary>
/// A fresh PostgreSQL database per test. The server comes from ENGINE_TEST_POSTGRES (default: the local Debian
/// cluster as .ci/run sets it up). Without a reachable server the tests are skipped on a developer machine and fail
/// in CI (CI=true), where they must run for real.
/// </summary>
public static class Postgres
{
    public static string Server => Environment.GetEnvironmentVariable("ENGINE_TEST_POSTGRES")
        ?? "Host=127.0.0.1;Username=postgres;Password=postgres;Timeout=5";

    public static async Task<string> CreateDatabaseAsync()
    {
        try
        {
            await using var c = new NpgsqlConnection(Server);
            await c.OpenAsync();
            var name = $"engine_test_{Guid.NewGuid():N}"[..28];
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
            await cmd.ExecuteNonQueryAsync();
            return new NpgsqlConnectionStringBuilder(Server) { Database = name }.ConnectionString;
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException
                                  && Environment.GetEnvironmentVariable("CI") != "true")
        {
            Skip.If(true, $"PostgreSQL is not reachable ({e.Message}); set ENGINE_TEST_POSTGRES or run .ci/run");
            throw;
        }
    }
}
