using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace Engine.Storage;

/// <summary>
/// Open read connections to one SQLite database, each keeping its prepared statements, lent to one read at a time. A
/// read that threw may leave a statement half run, so its connection is closed rather than returned; beyond
/// <c>maxIdle</c> idle ones, and after disposal, connections are closed too. Preparing a statement again for every read
/// took longer than running it (deploy/bench/HISTORY.md, "Behind the code").
/// </summary>
internal sealed class SqliteReaderPool(string connectionString, int maxIdle = 16) : IDisposable
{
    private readonly ConcurrentBag<SqliteReader> _idle = [];
    private volatile bool _disposed;

    public bool Disposed => _disposed;

    public T With<T>(Func<SqliteReader, T> work)
    {
        var reader = _idle.TryTake(out var idle) ? idle : new SqliteReader(connectionString);
        T result;
        try
        {
            result = work(reader);
        }
        catch
        {
            reader.Dispose();
            throw;
        }
        if (_disposed || _idle.Count >= maxIdle)
        {
            reader.Dispose();
            return result;
        }
        _idle.Add(reader);
        if (_disposed)
        {
            // Dispose may have emptied the pool between the check above and the Add.
            Drain();
        }
        return result;
    }

    public void Dispose()
    {
        _disposed = true;
        Drain();
    }

    private void Drain()
    {
        while (_idle.TryTake(out var reader))
        {
            reader.Dispose();
        }
    }
}

/// <summary>An open read connection with its prepared statements, one per SQL text.</summary>
internal sealed class SqliteReader(string connectionString) : IDisposable
{
    private readonly Dictionary<string, SqliteCommand> _prepared = new(StringComparer.Ordinal);

    public SqliteConnection Connection { get; } = Open(connectionString);

    /// <summary>The statement for <paramref name="sql"/>, prepared on first use, with no parameters bound.</summary>
    public SqliteCommand Prepared(string sql)
    {
        if (!_prepared.TryGetValue(sql, out var cmd))
        {
            cmd = Connection.CreateCommand();
            cmd.CommandText = sql;
            _prepared[sql] = cmd;
        }
        cmd.Parameters.Clear();
        return cmd;
    }

    public void Dispose()
    {
        foreach (var cmd in _prepared.Values)
        {
            cmd.Dispose();
        }
        Connection.Dispose();
    }

    private static SqliteConnection Open(string connectionString)
    {
        var c = new SqliteConnection(connectionString);
        c.Open();
        return c;
    }
}
