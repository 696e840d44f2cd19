using Engine.Core;
using Engine.Abstractions;
using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Engine.Storage;

/// <summary>
/// The ingest and transition logs in a SQLite file. One long-lived writer connection (SQLite allows one writer per
/// file) behind a lock; reads use pooled connections and never block the writer (WAL). Microsoft.Data.Sqlite's async
/// methods complete synchronously, so every call runs on the thread pool: callers inside grains never block a
/// scheduler thread.
/// </summary>
public sealed partial class SqliteEventLog : IEventLog, IQuarantineStore, IDisposable
{
    private readonly string _connectionString;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    // The writer's own: the append and transition statements, their UTF-8 buffer and the batch's customers' last rows (used under _writeLock).
    private sqlite3_stmt? _insertEvent;
    private sqlite3_stmt? _insertTransition;
    private byte[] _utf8 = new byte[256];
    private readonly Dictionary<string, long> _batchHeads = new(StringComparer.Ordinal);
    private SqliteConnection? _writer;
    private readonly SqliteReaderPool _readers;

    private readonly TransitionSignal _signal;
    private readonly SqliteDatabase _database;

    public SqliteEventLog(SqliteDatabase database, TransitionSignal signal)
    {
        _connectionString = database.LogConnectionString;
        _readers = new SqliteReaderPool(_connectionString);
        _database = database;
        _signal = signal;
        _transitionWrites = new GroupWriter<TransitionRecord>(InsertTransitionsAsync);
    }

    public Task<AppendResult> AppendAsync(IReadOnlyList<PendingEvent> events, DateTime asOf, long modelVersion, CancellationToken ct = default) =>
        WriteAsync(c => Append(c, events, asOf, modelVersion), ct);

    /// <summary>
    /// Each new row links to its customer's previous row (prev_seq): from this batch if the customer already has a row
    /// in it, else from its head, which the insert itself looks up. The batch's customers' heads then move to their
    /// last rows. This chain replaces an index on customer (see 004-customer-chain.sql).
    /// </summary>
    private const string InsertEventSql = """
        INSERT OR IGNORE INTO ingest_log (seq, event_id, customer_id, kind, occurred_at, amount, category, attributes, as_of, prev_seq, model_version)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, COALESCE(?10, (SELECT last_seq FROM customer_head WHERE customer_id = ?3), 0), ?11)
        """;

    private AppendResult Append(SqliteConnection c, IReadOnlyList<PendingEvent> events, DateTime asOf, long modelVersion)
    {
        var seqs = new long[events.Count];
        using var tx = c.BeginTransaction();
        var before = 0L;
        using (var head = c.CreateCommand())
        {
            head.Transaction = tx;
            head.CommandText = "SELECT seq, as_of FROM ingest_log ORDER BY seq DESC LIMIT 1";
            using var r = head.ExecuteReader();
            if (r.Read())
            {
                before = r.GetInt64(0);
                asOf = new DateTime(Math.Max(asOf.Ticks, r.GetInt64(1) + 1), DateTimeKind.Utc);
            }
        }
        // Positions are assigned here, not by RETURNING: this is the only writer and it holds the transaction, so the
        // next position is known, and a plain execute costs a third of a statement that returns a row.
        var db = c.Handle!;
        var insert = _insertEvent ??= SqliteReader.Prepare(db, InsertEventSql);
        var inBatch = _batchHeads;
        var next = before + 1;
        try
        {
            for (var i = 0; i < events.Count; i++)
            {
                var e = events[i];
                raw.sqlite3_bind_int64(insert, 1, next);
                BindText(insert, 2, e.EventId);
                BindText(insert, 3, e.CustomerId);
                raw.sqlite3_bind_int(insert, 4, (int)e.Kind);
                raw.sqlite3_bind_int64(insert, 5, e.OccurredAt.Ticks);
                raw.sqlite3_bind_double(insert, 6, e.Amount);
                BindText(insert, 7, e.Category);
                BindText(insert, 8, e.AttributesJson);
                raw.sqlite3_bind_int64(insert, 9, asOf.Ticks);
                if (inBatch.TryGetValue(e.CustomerId, out var prev))
                {
                    raw.sqlite3_bind_int64(insert, 10, prev);
                }
                else
                {
                    raw.sqlite3_bind_null(insert, 10);
                }
                raw.sqlite3_bind_int64(insert, 11, modelVersion);
                // 0 rows: the customer's event_id is already in the log (a duplicate), and the position stays free.
                if (Execute(db, insert) == 1)
                {
                    inBatch[e.CustomerId] = next;
                    seqs[i] = next++;
                }
            }
        }
        finally
        {
            SqliteReader.Reset(insert);
            inBatch.Clear();
        }
        if (next > before + 1)
        {
            using var move = c.CreateCommand();
            move.Transaction = tx;
            move.CommandText = """
                INSERT INTO customer_head (customer_id, last_seq)
                SELECT customer_id, MAX(seq) FROM ingest_log WHERE seq > $before GROUP BY customer_id
                ON CONFLICT (customer_id) DO UPDATE SET last_seq = excluded.last_seq
                """;
            move.Parameters.AddWithValue("$before", before);
            move.ExecuteNonQuery();
        }
        tx.Commit();
        return new AppendResult(seqs, before, asOf);
    }

    /// <summary>Runs a bound write statement once and resets it for the next row; the rows it changed.</summary>
    private static int Execute(sqlite3 db, sqlite3_stmt stmt)
    {
        var rc = raw.sqlite3_step(stmt);
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, db);
        }
        raw.sqlite3_reset(stmt);
        return raw.sqlite3_changes(db);
    }

    /// <summary>
    /// Binds UTF-8 from a reused buffer (SQLite copies it): binding through Microsoft.Data.Sqlite allocated a binder, a
    /// byte array and a box per value, a quarter of the server's allocations at full ingest.
    /// </summary>
    private void BindText(sqlite3_stmt stmt, int index, string? value) => SqliteReader.BindText(stmt, index, value, ref _utf8);

    /// <summary>
    /// The log head, and the customer's events after ?2: down its chain from its head row while the positions are above
    /// ?2. One statement, so head and events are of one snapshot.
    /// </summary>
    private const string CustomerTailSql = """
        WITH RECURSIVE chain(seq) AS (
            SELECT last_seq FROM customer_head WHERE customer_id = ?1 AND last_seq > ?2
            UNION ALL
            SELECT l.prev_seq FROM chain JOIN ingest_log l ON l.seq = chain.seq WHERE l.prev_seq > ?2
        )
        SELECT h.head, l.seq, l.event_id, l.customer_id, l.kind, l.occurred_at, l.amount, l.category, l.as_of, l.model_version
        FROM (SELECT COALESCE(MAX(seq), 0) AS head FROM ingest_log) h
        LEFT JOIN chain ON 1
        LEFT JOIN ingest_log l ON l.seq = chain.seq
        ORDER BY l.seq
        """;

    /// <summary>The log head and the customer's head row in one statement: most tail reads stop here.</summary>
    private const string CustomerHeadSql = """
        SELECT (SELECT COALESCE(MAX(seq), 0) FROM ingest_log), (SELECT last_seq FROM customer_head WHERE customer_id = ?1)
        """;

    public Task<CustomerTail> ReadCustomerTailAsync(string customerId, long afterSeq, CancellationToken ct = default) =>
        Task.Run(() => _readers.With(reader => ReadTail(reader, customerId, afterSeq)), ct);

    /// <summary>Both reads on one connection, one hop to the thread pool: an activation makes this read.</summary>
    public Task<CustomerTail> ReadRecoveryTailAsync(string customerId, long afterSeq, long afterNumber, CancellationToken ct = default) =>
        Task.Run(() => _readers.With(reader =>
        {
            var tail = ReadTail(reader, customerId, afterSeq);
            // Nearly always none (moves by silence since the checkpoint are left only by a crash): asked first on the
            // reader's own statement, read only if there are.
            var any = reader.Statement(AnyMovesSql);
            try
            {
                reader.BindText(any, 1, customerId);
                raw.sqlite3_bind_int64(any, 2, afterNumber);
                if (!reader.Step(any))
                {
                    return tail with { Moves = [] };
                }
            }
            finally
            {
                SqliteReader.Reset(any);
            }
            var cmd = reader.Prepared(MovesSql);
            cmd.Parameters.AddWithValue("$c", customerId);
            cmd.Parameters.AddWithValue("$n", afterNumber);
            using var r = cmd.ExecuteReader();
            var moves = new List<TransitionRecord>();
            while (r.Read())
            {
                moves.Add(ReadTransition(r, 0));
            }
            return tail with { Moves = moves.ToArray() };
        }), ct);

    private const string AnyMovesSql = "SELECT 1 FROM transitions WHERE customer_id = ?1 AND number > ?2 AND log_position IS NOT NULL LIMIT 1";

    private const string MovesSql = """
        SELECT customer_id, number, from_segment, to_segment, at, cause, model_version, drivers, from_name, to_name, log_position
        FROM transitions WHERE customer_id = $c AND number > $n AND log_position IS NOT NULL ORDER BY number
        """;

    /// <summary>A transition from the 11 columns from <paramref name="first"/> on, in the order <see cref="MovesSql"/> selects them.</summary>
    private static TransitionRecord ReadTransition(SqliteDataReader r, int first) =>
        new(r.GetString(first), r.GetInt64(first + 1), r.GetString(first + 2), r.GetString(first + 3),
            new DateTime(r.GetInt64(first + 4), DateTimeKind.Utc), (TransitionCause)r.GetInt32(first + 5), r.GetInt64(first + 6),
            Drivers.FromJson(r.IsDBNull(first + 7) ? null : r.GetString(first + 7)), r.IsDBNull(first + 8) ? null : r.GetString(first + 8),
            r.IsDBNull(first + 9) ? null : r.GetString(first + 9), r.IsDBNull(first + 10) ? null : r.GetInt64(first + 10));

    /// <summary>
    /// On the reader's own statements (<see cref="SqliteReader.Statement"/>): every activation reads its tail, and an
    /// import activates a customer every few events.
    /// </summary>
    private static CustomerTail ReadTail(SqliteReader reader, string customerId, long afterSeq)
    {
        // A customer with nothing after its checkpoint (every activation but after a crash) costs the cheap statement
        // only: half the time of the chain walk's in a profile of cold lookups.
        var quick = reader.Statement(CustomerHeadSql);
        try
        {
            reader.BindText(quick, 1, customerId);
            reader.Step(quick);
            if (SqliteReader.IsNull(quick, 1) || raw.sqlite3_column_int64(quick, 1) <= afterSeq)
            {
                return new CustomerTail([], raw.sqlite3_column_int64(quick, 0));
            }
        }
        finally
        {
            SqliteReader.Reset(quick);
        }
        var rows = reader.Statement(CustomerTailSql);
        try
        {
            reader.BindText(rows, 1, customerId);
            raw.sqlite3_bind_int64(rows, 2, afterSeq);
            var head = 0L;
            var list = new List<LoggedEvent>();
            while (reader.Step(rows))
            {
                head = raw.sqlite3_column_int64(rows, 0);
                if (!SqliteReader.IsNull(rows, 1))
                {
                    list.Add(ReadEvent(rows, 1));
                }
            }
            return new CustomerTail(list.ToArray(), head);
        }
        finally
        {
            SqliteReader.Reset(rows);
        }
    }

    /// <summary><see cref="ReadEvent(SqliteDataReader, int)"/> from a statement's row.</summary>
    private static LoggedEvent ReadEvent(sqlite3_stmt s, int i) =>
        new(raw.sqlite3_column_int64(s, i), SqliteReader.Text(s, i + 1), SqliteReader.Text(s, i + 2), (EventKind)raw.sqlite3_column_int(s, i + 3),
            new DateTime(raw.sqlite3_column_int64(s, i + 4), DateTimeKind.Utc), raw.sqlite3_column_double(s, i + 5),
            SqliteReader.IsNull(s, i + 6) ? null : SqliteReader.Text(s, i + 6), new DateTime(raw.sqlite3_column_int64(s, i + 7), DateTimeKind.Utc),
            SqliteReader.IsNull(s, i + 8) ? LoggedEvent.Unstamped : raw.sqlite3_column_int64(s, i + 8));

    /// <summary>Scans the positions in (afterSeq, throughSeq]: a read-back spans the few batches other writers appended.</summary>
    public Task<LoggedEvent[]> ReadCustomersAsync(IReadOnlyCollection<string> customerIds, long afterSeq, long throughSeq, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                SELECT seq, event_id, customer_id, kind, occurred_at, amount, category, as_of, model_version FROM ingest_log
                WHERE customer_id IN (SELECT value FROM json_each($ids)) AND seq > $a AND seq <= $t ORDER BY seq
                """;
            cmd.Parameters.AddWithValue("$ids", System.Text.Json.JsonSerializer.Serialize(customerIds));
            cmd.Parameters.AddWithValue("$a", afterSeq);
            cmd.Parameters.AddWithValue("$t", throughSeq);
            using var r = cmd.ExecuteReader();
            var list = new List<LoggedEvent>();
            while (r.Read())
            {
                list.Add(ReadEvent(r, 0));
            }
            return list.ToArray();
        }, ct);

    /// <summary>
    /// Reads seq, event_id, customer_id, kind, occurred_at, amount, category, as_of, model_version starting at column
    /// <paramref name="i"/>.
    /// </summary>
    private static LoggedEvent ReadEvent(SqliteDataReader r, int i) =>
        new(r.GetInt64(i), r.GetString(i + 1), r.GetString(i + 2), (EventKind)r.GetInt32(i + 3), new DateTime(r.GetInt64(i + 4), DateTimeKind.Utc),
            r.GetDouble(i + 5), r.IsDBNull(i + 6) ? null : r.GetString(i + 6), new DateTime(r.GetInt64(i + 7), DateTimeKind.Utc),
            r.IsDBNull(i + 8) ? LoggedEvent.Unstamped : r.GetInt64(i + 8));

    public Task<string[]> CustomersAfterAsync(long afterSeq, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT DISTINCT customer_id FROM ingest_log WHERE seq > $s AND customer_id <> ''";
            cmd.Parameters.AddWithValue("$s", afterSeq);
            using var r = cmd.ExecuteReader();
            var list = new List<string>();
            while (r.Read())
            {
                list.Add(r.GetString(0));
            }
            return list.ToArray();
        }, ct);

    public Task<LogHead> GetHeadAsync(CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT COALESCE(MAX(seq), 0), MAX(occurred_at), MAX(as_of) FROM ingest_log";
            using var r = cmd.ExecuteReader();
            r.Read();
            return new LogHead(r.GetInt64(0), Time(r, 1), Time(r, 2));
        }, ct);

    public Task<long> GetHeadSeqAsync(CancellationToken ct = default) => ReadLongAsync("SELECT COALESCE(MAX(seq), 0) FROM ingest_log", ct);

    private static DateTime? Time(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : new DateTime(r.GetInt64(i), DateTimeKind.Utc);

    public async Task<IReadOnlyList<TransitionRecord>> AppendTransitionsAsync(IReadOnlyList<TransitionRecord> transitions, CancellationToken ct = default)
    {
        if (transitions.Count == 0)
        {
            return [];
        }
        var written = await _transitionWrites.WriteAsync(transitions).ConfigureAwait(false);
        _signal.Pulse();
        return written;
    }

    private const string InsertTransitionSql = """
        INSERT OR IGNORE INTO transitions (customer_id, number, from_segment, to_segment, at, cause, model_version, drivers, from_name, to_name, log_position)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
        """;

    /// <summary>
    /// Nearly every transition row dirties a page of the (customer, number) index, and a commit writes each dirty page to
    /// the WAL once: lists appended at once go out in one transaction (<see cref="GroupWriter{T}"/>).
    /// </summary>
    private readonly GroupWriter<TransitionRecord> _transitionWrites;

    /// <summary>
    /// One transaction, one statement prepared once and bound as the append binds (<see cref="BindText"/>): a rollout
    /// writes a transition row for about every customer, and Microsoft.Data.Sqlite's binding was a visible share of
    /// those writes (deploy/bench/HISTORY.md, "Behind the code").
    /// </summary>
    private Task<IReadOnlyList<TransitionRecord>> InsertTransitionsAsync(IReadOnlyList<TransitionRecord> transitions) =>
        WriteAsync<IReadOnlyList<TransitionRecord>>(c =>
        {
            using var tx = c.BeginTransaction();
            var db = c.Handle!;
            var insert = _insertTransition ??= SqliteReader.Prepare(db, InsertTransitionSql);
            var written = new List<TransitionRecord>(transitions.Count);
            try
            {
                foreach (var t in transitions)
                {
                    BindText(insert, 1, t.CustomerId);
                    raw.sqlite3_bind_int64(insert, 2, t.Number);
                    BindText(insert, 3, t.FromSegmentId);
                    BindText(insert, 4, t.ToSegmentId);
                    raw.sqlite3_bind_int64(insert, 5, t.At.Ticks);
                    raw.sqlite3_bind_int(insert, 6, (int)t.Cause);
                    raw.sqlite3_bind_int64(insert, 7, t.ModelVersion);
                    BindText(insert, 8, Drivers.ToJson(t.Drivers));
                    BindText(insert, 9, t.FromSegmentName);
                    BindText(insert, 10, t.ToSegmentName);
                    if (t.LogPosition is { } position)
                    {
                        raw.sqlite3_bind_int64(insert, 11, position);
                    }
                    else
                    {
                        raw.sqlite3_bind_null(insert, 11);
                    }
                    // 0 rows: the log has this (customer, number) already, a replay's repeat.
                    if (Execute(db, insert) == 1)
                    {
                        written.Add(t);
                    }
                }
            }
            finally
            {
                SqliteReader.Reset(insert);
            }
            tx.Commit();
            return written;
        }, CancellationToken.None);

    public Task<TransitionCount[]> CountTransitionsAsync(DateTime? from, DateTime? to, long? modelVersion = null,
        IReadOnlyCollection<TransitionCause>? causes = null, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            var causeList = causes is { Count: > 0 } ? string.Join(",", causes.Select(x => (int)x)) : null;
            cmd.CommandText = $"""
                SELECT from_segment, to_segment, COUNT(*) FROM transitions
                WHERE at >= $from AND at < $to
                  {(modelVersion is null ? "" : "AND model_version = $v")}
                  {(causeList is null ? "" : $"AND cause IN ({causeList})")}
                GROUP BY from_segment, to_segment
                """;
            cmd.Parameters.AddWithValue("$from", from?.Ticks ?? long.MinValue);
            cmd.Parameters.AddWithValue("$to", to?.Ticks ?? long.MaxValue);
            if (modelVersion is { } v)
            {
                cmd.Parameters.AddWithValue("$v", v);
            }
            using var r = cmd.ExecuteReader();
            var list = new List<TransitionCount>();
            while (r.Read())
            {
                list.Add(new TransitionCount(r.GetString(0), r.GetString(1), r.GetInt64(2)));
            }
            return list.ToArray();
        }, ct);

    public Task<TransitionPage> ReadTransitionsAsync(long after, int limit, TransitionFilter filter, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                SELECT id, customer_id, number, from_segment, to_segment, at, cause, model_version, drivers, from_name, to_name, log_position
                FROM transitions WHERE id > $after ORDER BY id LIMIT $limit
                """;
            cmd.Parameters.AddWithValue("$after", after);
            cmd.Parameters.AddWithValue("$limit", limit);
            using var r = cmd.ExecuteReader();
            var list = new List<LoggedTransition>();
            var last = after;
            while (r.Read())
            {
                last = r.GetInt64(0);
                var t = ReadTransition(r, 1);
                // Filtering here rather than in SQL keeps the scan in cursor order on the primary key.
                if (filter.Matches(t))
                {
                    list.Add(new LoggedTransition(last, t));
                }
            }
            return new TransitionPage(list.ToArray(), last);
        }, ct);

    public Task<long> LastCursorAsync(CancellationToken ct = default) => ReadLongAsync("SELECT COALESCE(MAX(id), 0) FROM transitions", ct);

    private Task<long> ReadLongAsync(string sql, CancellationToken ct) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = sql;
            return (long)cmd.ExecuteScalar()!;
        }, ct);

    /// <summary>SQL (SQLite and PostgreSQL alike) that is true for an RFM move: the kind is the target segment id's.</summary>
    internal static readonly string IsRfmMove = $"(substr(to_segment, 1, {RfmScores.IdPrefix.Length}) = '{RfmScores.IdPrefix}')";

    public Task<bool> MovedAgainAsync(string customerId, long number, DateTime before, SegmentKind kind, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = $"SELECT EXISTS (SELECT 1 FROM transitions WHERE customer_id = $c AND number > $n AND at < $before AND {IsRfmMove} = $rfm)";
            cmd.Parameters.AddWithValue("$rfm", kind == SegmentKind.Rfm);
            cmd.Parameters.AddWithValue("$c", customerId);
            cmd.Parameters.AddWithValue("$n", number);
            cmd.Parameters.AddWithValue("$before", before.Ticks);
            return (long)cmd.ExecuteScalar()! == 1;
        }, ct);

    public Task CreateWebhookAsync(WebhookRecord webhook, CancellationToken ct = default) =>
        WriteAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                INSERT INTO webhooks (id, url, secret, filter, delivered_after, created_at, format, headers, max_batch, max_wait_ms)
                VALUES ($id, $url, $secret, $filter, $after, $at, $format, $headers, $batch, $wait)
                """;
            cmd.Parameters.AddWithValue("$format", webhook.Format);
            cmd.Parameters.AddWithValue("$headers", (object?)webhook.HeadersJson ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$batch", webhook.MaxBatch);
            cmd.Parameters.AddWithValue("$wait", (long)webhook.MaxWait.TotalMilliseconds);
            cmd.Parameters.AddWithValue("$id", webhook.Id);
            cmd.Parameters.AddWithValue("$url", webhook.Url);
            cmd.Parameters.AddWithValue("$secret", webhook.Secret);
            cmd.Parameters.AddWithValue("$filter", webhook.FilterJson);
            cmd.Parameters.AddWithValue("$after", webhook.DeliveredAfter);
            cmd.Parameters.AddWithValue("$at", webhook.CreatedAt.Ticks);
            return cmd.ExecuteNonQuery();
        }, ct);

    public Task<WebhookRecord[]> ListWebhooksAsync(CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = $"SELECT {WebhookColumns} FROM webhooks ORDER BY created_at, id";
            using var r = cmd.ExecuteReader();
            var list = new List<WebhookRecord>();
            while (r.Read())
            {
                DateTime? At(int i) => r.IsDBNull(i) ? null : new DateTime(r.GetInt64(i), DateTimeKind.Utc);
                list.Add(new WebhookRecord(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), new DateTime(r.GetInt64(5), DateTimeKind.Utc),
                    At(6), At(7), r.IsDBNull(8) ? null : r.GetString(8), r.GetString(9), r.IsDBNull(10) ? null : r.GetString(10), r.GetInt32(11),
                    TimeSpan.FromMilliseconds(r.GetInt64(12))));
            }
            return list.ToArray();
        }, ct);

    /// <summary>The webhook columns in <see cref="WebhookRecord"/>'s order (both dialects read them so).</summary>
    public const string WebhookColumns =
        "id, url, secret, filter, delivered_after, created_at, paused_until, last_success_at, last_error, format, headers, max_batch, max_wait_ms";

    public Task<bool> DeleteWebhookAsync(string id, CancellationToken ct = default) =>
        WriteAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "DELETE FROM webhooks WHERE id = $id";
            cmd.Parameters.AddWithValue("$id", id);
            return cmd.ExecuteNonQuery() > 0;
        }, ct);

    public Task AdvanceWebhookAsync(string id, long cursor, DateTime? deliveredAt, CancellationToken ct = default) =>
        WriteAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = deliveredAt is null
                ? "UPDATE webhooks SET delivered_after = MAX(delivered_after, $cursor) WHERE id = $id"
                : "UPDATE webhooks SET delivered_after = MAX(delivered_after, $cursor), last_success_at = $at, paused_until = NULL, last_error = NULL WHERE id = $id";
            cmd.Parameters.AddWithValue("$id", id);
            cmd.Parameters.AddWithValue("$cursor", cursor);
            cmd.Parameters.AddWithValue("$at", deliveredAt?.Ticks ?? 0);
            return cmd.ExecuteNonQuery();
        }, ct);

    public Task UpdateWebhookFilterAsync(string id, string filterJson, CancellationToken ct = default) =>
        ExecuteAsync("UPDATE webhooks SET filter = $filter WHERE id = $id", ct, ("$id", id), ("$filter", filterJson));

    public Task RecordWebhookFailureAsync(string id, string error, DateTime? pausedUntil, CancellationToken ct = default) =>
        ExecuteAsync("UPDATE webhooks SET last_error = $error, paused_until = $until WHERE id = $id", ct,
            ("$id", id), ("$error", error), ("$until", pausedUntil?.Ticks));

    public Task RemoveDeadLettersAsync(string webhookId, IReadOnlyCollection<long> cursors, CancellationToken ct = default) =>
        WriteAsync(c =>
        {
            using var tx = c.BeginTransaction();
            using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM webhook_dead_letters WHERE webhook_id = $w AND cursor = $cursor";
            var w = cmd.Parameters.AddWithValue("$w", webhookId);
            var cursor = cmd.Parameters.Add("$cursor", SqliteType.Integer);
            var removed = 0;
            foreach (var x in cursors)
            {
                cursor.Value = x;
                removed += cmd.ExecuteNonQuery();
            }
            tx.Commit();
            return removed;
        }, ct);

    public Task AddDeadLetterAsync(DeadLetter letter, CancellationToken ct = default) =>
        WriteAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = """
                INSERT INTO webhook_dead_letters (webhook_id, cursor, attempts, last_error, body, failed_at)
                VALUES ($w, $cursor, $attempts, $error, $body, $at)
                """;
            cmd.Parameters.AddWithValue("$w", letter.WebhookId);
            cmd.Parameters.AddWithValue("$cursor", letter.Cursor);
            cmd.Parameters.AddWithValue("$attempts", letter.Attempts);
            cmd.Parameters.AddWithValue("$error", letter.LastError);
            cmd.Parameters.AddWithValue("$body", letter.Body);
            cmd.Parameters.AddWithValue("$at", letter.FailedAt.Ticks);
            return cmd.ExecuteNonQuery();
        }, ct);

    public Task<DeadLetter[]> ListDeadLettersAsync(string? webhookId, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = $"SELECT webhook_id, cursor, attempts, last_error, body, failed_at FROM webhook_dead_letters {(webhookId is null ? "" : "WHERE webhook_id = $w")} ORDER BY id";
            if (webhookId is not null)
            {
                cmd.Parameters.AddWithValue("$w", webhookId);
            }
            using var r = cmd.ExecuteReader();
            var list = new List<DeadLetter>();
            while (r.Read())
            {
                list.Add(new DeadLetter(r.GetString(0), r.GetInt64(1), r.GetInt32(2), r.GetString(3), r.GetString(4), new DateTime(r.GetInt64(5), DateTimeKind.Utc)));
            }
            return list.ToArray();
        }, ct);

    public Task<long> GetMetaAsync(string key, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT value FROM engine_meta WHERE key = $k";
            cmd.Parameters.AddWithValue("$k", key);
            return cmd.ExecuteScalar() is long v ? v : 0L;
        }, ct);

    public Task SetMetaAsync(string key, long value, CancellationToken ct = default) =>
        ExecuteAsync("INSERT INTO engine_meta (key, value) VALUES ($k, $v) ON CONFLICT (key) DO UPDATE SET value = excluded.value", ct,
            ("$k", key), ("$v", value));

    public Task<Dictionary<string, long>> ListMetaAsync(string prefix, CancellationToken ct = default) =>
        ReadAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT key, value FROM engine_meta WHERE substr(key, 1, length($p)) = $p";
            cmd.Parameters.AddWithValue("$p", prefix);
            using var r = cmd.ExecuteReader();
            var map = new Dictionary<string, long>(StringComparer.Ordinal);
            while (r.Read())
            {
                map[r.GetString(0)] = r.GetInt64(1);
            }
            return map;
        }, ct);

    public Task DeleteMetaAsync(string key, CancellationToken ct = default) =>
        WriteAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = "DELETE FROM engine_meta WHERE key = $k";
            cmd.Parameters.AddWithValue("$k", key);
            return cmd.ExecuteNonQuery();
        }, ct);

    private SqliteConnection OpenWriter()
    {
        var c = SqliteDatabase.Open(_connectionString);
        using var cmd = c.CreateCommand();
        // The event_id index, the customers' heads and the transitions' identity index take keys in random order; with
        // SQLite's default 2 MB page cache every append reads index pages back from the OS once they outgrow it.
        // And a checkpoint (copying the WAL back into the file, with fsyncs) every 64 MB of log rather than every 4 MB:
        // it runs inside whichever commit crosses the threshold, stalling the ingest pipeline.
        cmd.CommandText = "PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 16384";
        cmd.ExecuteNonQuery();
        return c;
    }

    public void Dispose()
    {
        _insertEvent?.Dispose();
        _insertTransition?.Dispose();
        _writer?.Dispose();
        _writeLock.Dispose();
        _readers.Dispose();
    }

    private async Task<T> WriteAsync<T>(Func<SqliteConnection, T> work, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await Task.Run(() => work(_writer ??= OpenWriter()), ct).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>One write statement with named parameters (null is SQL NULL); the rows it changed.</summary>
    private Task<int> ExecuteAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] parameters) =>
        WriteAsync(c =>
        {
            using var cmd = c.CreateCommand();
            cmd.CommandText = sql;
            foreach (var (name, value) in parameters)
            {
                cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
            }
            return cmd.ExecuteNonQuery();
        }, ct);

    private Task<T> ReadAsync<T>(Func<SqliteConnection, T> work, CancellationToken ct) =>
        Task.Run(() => _readers.With(reader => work(reader.Connection)), ct);
}
