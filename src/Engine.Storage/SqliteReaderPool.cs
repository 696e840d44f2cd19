using System.Collections.Concurrent;
using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

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

/// <summary>
/// An open read connection with its prepared statements, one per SQL text: as commands, or as SQLite's own statements
/// for the reads every activation makes, where the command's binder and reader allocated more than the row they read.
/// </summary>
internal sealed class SqliteReader(string connectionString) : IDisposable
{
    private readonly Dictionary<string, SqliteCommand> _prepared = new(StringComparer.Ordinal);
    private readonly Dictionary<string, sqlite3_stmt> _statements = new(StringComparer.Ordinal);
    private readonly Dictionary<(sqlite3_stmt, string), int> _parameters = [];
    private byte[] _utf8 = new byte[128];

    public SqliteConnection Connection { get; } = Open(connectionString);

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

    /// <summary>
    /// The statement for <paramref name="sql"/>, prepared once, with nothing bound. Run it with <see cref="Step"/> and
    /// <see cref="Reset"/> it in a finally: a statement left mid-run holds its read snapshot open.
    /// </summary>
    public sqlite3_stmt Statement(string sql)
    {
        if (!_statements.TryGetValue(sql, out var stmt))
        {
            _statements[sql] = stmt = Prepare(Connection.Handle!, sql);
        }
        return stmt;
    }

    /// <summary>SQLite's own statement for <paramref name="sql"/> on <paramref name="db"/>; throws SQLite's error.</summary>
    public static sqlite3_stmt Prepare(sqlite3 db, string sql)
    {
        var rc = raw.sqlite3_prepare_v2(db, sql, out var stmt);
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, db);
        }
        return stmt;
    }

    /// <summary>The statement's index of a named parameter, 0 where it has none; looked up once per statement and name.</summary>
    public int ParameterIndex(sqlite3_stmt stmt, string name)
    {
        if (!_parameters.TryGetValue((stmt, name), out var index))
        {
            _parameters[(stmt, name)] = index = raw.sqlite3_bind_parameter_index(stmt, name);
        }
        return index;
    }

    /// <summary>Binds UTF-8 from this reader's buffer (<see cref="BindText(sqlite3_stmt, int, string?, ref byte[])"/>).</summary>
    public void BindText(sqlite3_stmt stmt, int index, string? value) => BindText(stmt, index, value, ref _utf8);

    /// <summary>
    /// Binds UTF-8 encoded into <paramref name="buffer"/> (grown as needed; SQLite copies it), "" as empty text (an
    /// empty span would bind NULL), null as NULL.
    /// </summary>
    public static void BindText(sqlite3_stmt stmt, int index, string? value, ref byte[] buffer)
    {
        if (value is null)
        {
            raw.sqlite3_bind_null(stmt, index);
            return;
        }
        if (value.Length == 0)
        {
            raw.sqlite3_bind_text(stmt, index, "");
            return;
        }
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (buffer.Length < max)
        {
            buffer = new byte[Math.Max(max, 2 * buffer.Length)];
        }
        var length = Encoding.UTF8.GetBytes(value, buffer);
        raw.sqlite3_bind_text(stmt, index, new ReadOnlySpan<byte>(buffer, 0, length));
    }

    /// <summary>Steps the statement: true at a row, false when done; throws SQLite's error otherwise.</summary>
    public bool Step(sqlite3_stmt stmt)
    {
        var rc = raw.sqlite3_step(stmt);
        if (rc == raw.SQLITE_ROW)
        {
            return true;
        }
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, Connection.Handle!);
        }
        return false;
    }

    /// <summary>
    /// Ends the statement's run and clears its bindings, whatever happened to it: a read ends its snapshot, and a kept
    /// statement (the writers' too) is ready for its next run holding no old values.
    /// </summary>
    public static void Reset(sqlite3_stmt stmt)
    {
        raw.sqlite3_reset(stmt);
        raw.sqlite3_clear_bindings(stmt);
    }

    public static bool IsNull(sqlite3_stmt stmt, int column) => raw.sqlite3_column_type(stmt, column) == raw.SQLITE_NULL;

    public static string Text(sqlite3_stmt stmt, int column) => raw.sqlite3_column_text(stmt, column).utf8_to_string();

    public void Dispose()
    {
        foreach (var cmd in _prepared.Values)
        {
            cmd.Dispose();
        }
        foreach (var stmt in _statements.Values)
        {
            stmt.Dispose();
        }
        Connection.Dispose();
    }

    private static SqliteConnection Open(string connectionString)
    {
        var c = new SqliteConnection(connectionString);
        c.Open();
        // A command retries a busy database for its timeout; SQLite's own statements wait as long through this.
        raw.sqlite3_busy_timeout(c.Handle!, (int)TimeSpan.FromSeconds(new SqliteConnectionStringBuilder(connectionString).DefaultTimeout).TotalMilliseconds);
        return c;
    }
}
