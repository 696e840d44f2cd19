using Engine.Storage;
using Microsoft.Data.Sqlite;

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
}
