using System.Data.Common;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Data.Sqlite;

namespace Engine.Storage;

/// <summary>
/// The SQLite connections Orleans' grain storage gets (its <c>DataSource</c> option): Microsoft.Data.Sqlite with one
/// difference, a parameter named without a prefix answers with '@', the prefix of every parameter in our SQLite query
/// texts. Orleans names its parameters bare ("GrainIdHash"), and Microsoft.Data.Sqlite then looks each one up four
/// times on every execution (as given, then with '@', '$' and ':', each a new string and its UTF-8 copy): over cold
/// lookups, each a grain-state read, that was about 8% of the server's allocations.
/// </summary>
public sealed class OrleansSqliteDataSource(string connectionString) : DbDataSource
{
    public override string ConnectionString => connectionString;

    protected override DbConnection CreateDbConnection() => new Connection { ConnectionString = connectionString };

    private sealed class Connection : SqliteConnection
    {
        public override SqliteCommand CreateCommand() =>
            new Command { Connection = this, CommandTimeout = DefaultTimeout, Transaction = Transaction };
    }

    private sealed class Command : SqliteCommand
    {
        public override SqliteParameter CreateParameter() => new Parameter();
    }

    private sealed class Parameter : SqliteParameter
    {
        private string _name = "";

        [AllowNull]
        public override string ParameterName
        {
            get => _name;
            set => _name = string.IsNullOrEmpty(value) || value[0] is '@' or '$' or ':' ? value ?? "" : "@" + value;
        }
    }
}
