using Engine.Core;
using Engine.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Engine.Storage;

/// <summary>
/// The ingest and transition logs in PostgreSQL. An append is one write (a binary COPY of events or of transitions;
/// <see cref="PlainFirstAsync{T}"/> says what happens when it hits a key the log has) in one transaction that first
/// takes a transaction-scoped advisory lock, so ids commit in order across silos: a reader that has seen id N never
/// later finds a smaller one appear, which is what alert cursors and log positions rely on.
/// </summary>
public sealed partial class PostgresEventLog(PostgresDatabase database, TransitionSignal signal) : IEventLog, IQuarantineStore
{
    private const long IngestLock = 0x6C6F67;        // "log"
    private const long TransitionLock = 0x616C657274; // "alert"
    private readonly NpgsqlDataSource _db = database.DataSource;

    public Task<AppendResult> AppendAsync(IReadOnlyList<PendingEvent> events, DateTime asOf, long modelVersion, CancellationToken ct = default) =>
        PlainFirstAsync(skipKnown => AppendAsync(events, asOf, modelVersion, skipKnown, ct));

    /// <summary>
    /// Runs an append as a plain write first, and only if it hits a key the log has (a client's retry, a recovery's
    /// resend, a repeat within the write) again as an INSERT with ON CONFLICT DO NOTHING: repeats are rare, and ON
    /// CONFLICT costs every row a speculative insertion (deploy/bench/HISTORY.md, "Behind the code").
    /// The failed attempt's transaction rolled back, so nothing of it was written.
    /// </summary>
    private static async Task<T> PlainFirstAsync<T>(Func<bool, Task<T>> append)
    {
        try
        {
            return await append(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return await append(true);
        }
    }

    private async Task<AppendResult> AppendAsync(IReadOnlyList<PendingEvent> events, DateTime asOf, long modelVersion, bool skipKnown, CancellationToken ct)
    {
        await using var c = await _db.OpenConnectionAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        await LockAsync(c, tx, IngestLock, ct);
        var before = 0L;
        await using (var head = new NpgsqlCommand("SELECT seq, as_of FROM ingest_log ORDER BY seq DESC LIMIT 1", c, tx))
        await using (var r = await head.ExecuteReaderAsync(ct))
        {
            if (await r.ReadAsync(ct))
            {
                before = r.GetInt64(0);
                asOf = Ticks(Math.Max(asOf.Ticks, r.GetInt64(1) + 1));
            }
        }
        // Positions are given here, not by the column's identity: the lock makes this writer the only one, so the
        // head it read plus the event's place in the batch is free, and a COPY cannot say which positions it drew.
        var seqs = skipKnown
            ? await InsertSkippingKnownAsync(c, tx, events, before, asOf, modelVersion, ct)
            : await CopyAsync(c, events, before, asOf, modelVersion, ct);
        await tx.CommitAsync(ct);
        return new AppendResult(seqs, before, asOf);
    }

    /// <summary>
    /// A binary COPY of the batch: in a load of 20 batches of 7,300 events into a log of 500,000 it took 7.3–9.4 µs an
    /// event against 10.7–14.8 µs for the same rows as one INSERT over arrays. A key the log has fails the whole COPY.
    /// </summary>
    private static async Task<long[]> CopyAsync(NpgsqlConnection c, IReadOnlyList<PendingEvent> events, long before, DateTime asOf, long modelVersion,
        CancellationToken ct)
    {
        var seqs = new long[events.Count];
        await using (var w = await c.BeginBinaryImportAsync(
            "COPY ingest_log (seq, event_id, customer_id, kind, occurred_at, amount, category, attributes, as_of, model_version) FROM STDIN (FORMAT BINARY)", ct))
        {
            for (var i = 0; i < events.Count; i++)
            {
                var e = events[i];
                seqs[i] = before + i + 1;
                await w.StartRowAsync(ct);
                await w.WriteAsync(seqs[i], NpgsqlDbType.Bigint, ct);
                await w.WriteAsync(e.EventId, NpgsqlDbType.Text, ct);
                await w.WriteAsync(e.CustomerId, NpgsqlDbType.Text, ct);
                await w.WriteAsync((int)e.Kind, NpgsqlDbType.Integer, ct);
                await w.WriteAsync(e.OccurredAt.Ticks, NpgsqlDbType.Bigint, ct);
                await w.WriteAsync(e.Amount, NpgsqlDbType.Double, ct);
                await WriteNullableAsync(w, e.Category, ct);
                await WriteNullableAsync(w, e.AttributesJson, ct);
                await w.WriteAsync(asOf.Ticks, NpgsqlDbType.Bigint, ct);
                await w.WriteAsync(modelVersion, NpgsqlDbType.Bigint, ct);
            }
            await w.CompleteAsync(ct);
        }
        return seqs;
    }

    private static Task WriteNullableAsync(NpgsqlBinaryImporter w, string? value, CancellationToken ct) =>
        value is null ? w.WriteNullAsync(ct) : w.WriteAsync(value, NpgsqlDbType.Text, ct);

    /// <summary>
    /// The batch less the keys the log has; the first occurrence of a (customer_id, event_id) in it gets the position, a
    /// repeat is a duplicate (0).
    /// </summary>
    private static async Task<long[]> InsertSkippingKnownAsync(NpgsqlConnection c, NpgsqlTransaction tx, IReadOnlyList<PendingEvent> events,
        long before, DateTime asOf, long modelVersion, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            INSERT INTO ingest_log (seq, event_id, customer_id, kind, occurred_at, amount, category, attributes, as_of, model_version) OVERRIDING SYSTEM VALUE
            SELECT $9 + e.n, e.id, e.c, e.k, e.o, e.a, e.cat, e.attr, $8, $10
            FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::float8[], $6::text[], $7::text[]) WITH ORDINALITY
                 AS e(id, c, k, o, a, cat, attr, n)
            ORDER BY e.n
            ON CONFLICT (event_id, customer_id) DO NOTHING
            RETURNING seq
            """, c, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = events.Select(e => e.EventId).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = events.Select(e => e.CustomerId).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = events.Select(e => (int)e.Kind).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = events.Select(e => e.OccurredAt.Ticks).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = events.Select(e => e.Amount).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = events.Select(e => e.Category).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = events.Select(e => e.AttributesJson).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = asOf.Ticks });
        cmd.Parameters.Add(new NpgsqlParameter { Value = before });
        cmd.Parameters.Add(new NpgsqlParameter { Value = modelVersion });
        var seqs = new long[events.Count];
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            var seq = r.GetInt64(0);
            seqs[seq - before - 1] = seq;
        }
        return seqs;
    }

    public async Task<CustomerTail> ReadCustomerTailAsync(string customerId, long afterSeq, CancellationToken ct = default)
    {
        // One statement, one snapshot: the head and the events up to it.
        await using var cmd = _db.CreateCommand("""
            WITH h AS (SELECT COALESCE(MAX(seq), 0) AS head FROM ingest_log)
            SELECT h.head, l.seq, l.event_id, l.customer_id, l.kind, l.occurred_at, l.amount, l.category, l.as_of, l.model_version
            FROM h LEFT JOIN ingest_log l ON l.customer_id = $1 AND l.seq > $2 AND l.seq <= h.head ORDER BY l.seq
            """);
        cmd.Parameters.AddWithValue(customerId);
        cmd.Parameters.AddWithValue(afterSeq);
        var head = 0L;
        var list = new List<LoggedEvent>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            head = r.GetInt64(0);
            if (!r.IsDBNull(1))
            {
                list.Add(ReadEvent(r, 1));
            }
        }
        return new CustomerTail(list.ToArray(), head);
    }

    public async Task<CustomerTail> ReadRecoveryTailAsync(string customerId, long afterSeq, long afterNumber, CancellationToken ct = default)
    {
        var tail = await ReadCustomerTailAsync(customerId, afterSeq, ct);
        await using var cmd = _db.CreateCommand("""
            SELECT customer_id, number, from_segment, to_segment, at, cause, model_version, drivers, from_name, to_name, log_position
            FROM transitions WHERE customer_id = $1 AND number > $2 AND log_position IS NOT NULL ORDER BY number
            """);
        cmd.Parameters.AddWithValue(customerId);
        cmd.Parameters.AddWithValue(afterNumber);
        var moves = new List<TransitionRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            moves.Add(ReadTransition(r, 0));
        }
        return tail with { Moves = moves.ToArray() };
    }

    /// <summary>A transition from the 11 columns from <paramref name="first"/> on: customer_id through log_position, in table order.</summary>
    private static TransitionRecord ReadTransition(NpgsqlDataReader r, int first) =>
        new(r.GetString(first), r.GetInt64(first + 1), r.GetString(first + 2), r.GetString(first + 3), Ticks(r.GetInt64(first + 4)),
            (TransitionCause)r.GetInt32(first + 5), r.GetInt64(first + 6), Drivers.FromJson(r.IsDBNull(first + 7) ? null : r.GetString(first + 7)),
            r.IsDBNull(first + 8) ? null : r.GetString(first + 8), r.IsDBNull(first + 9) ? null : r.GetString(first + 9),
            r.IsDBNull(first + 10) ? null : r.GetInt64(first + 10));

    public async Task<LoggedEvent[]> ReadCustomersAsync(IReadOnlyCollection<string> customerIds, long afterSeq, long throughSeq, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("""
            SELECT seq, event_id, customer_id, kind, occurred_at, amount, category, as_of, model_version FROM ingest_log
            WHERE customer_id = ANY($1) AND seq > $2 AND seq <= $3 ORDER BY seq
            """);
        cmd.Parameters.AddWithValue(customerIds.ToArray());
        cmd.Parameters.AddWithValue(afterSeq);
        cmd.Parameters.AddWithValue(throughSeq);
        var list = new List<LoggedEvent>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(ReadEvent(r, 0));
        }
        return list.ToArray();
    }

    /// <summary>
    /// Reads seq, event_id, customer_id, kind, occurred_at, amount, category, as_of, model_version starting at column
    /// <paramref name="i"/>.
    /// </summary>
    private static LoggedEvent ReadEvent(NpgsqlDataReader r, int i) =>
        new(r.GetInt64(i), r.GetString(i + 1), r.GetString(i + 2), (EventKind)r.GetInt32(i + 3), Ticks(r.GetInt64(i + 4)), r.GetDouble(i + 5),
            r.IsDBNull(i + 6) ? null : r.GetString(i + 6), Ticks(r.GetInt64(i + 7)),
            r.IsDBNull(i + 8) ? LoggedEvent.Unstamped : r.GetInt64(i + 8));

    public async Task<string[]> CustomersAfterAsync(long afterSeq, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("SELECT DISTINCT customer_id FROM ingest_log WHERE seq > $1 AND customer_id <> ''");
        cmd.Parameters.AddWithValue(afterSeq);
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(r.GetString(0));
        }
        return list.ToArray();
    }

    public async Task<LogHead> GetHeadAsync(CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("SELECT COALESCE(MAX(seq), 0), MAX(occurred_at), MAX(as_of) FROM ingest_log");
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        return new LogHead(r.GetInt64(0), r.IsDBNull(1) ? null : Ticks(r.GetInt64(1)), r.IsDBNull(2) ? null : Ticks(r.GetInt64(2)));
    }

    public async Task<long> GetHeadSeqAsync(CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("SELECT COALESCE(MAX(seq), 0) FROM ingest_log");
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    public async Task<IReadOnlyList<TransitionRecord>> AppendTransitionsAsync(IReadOnlyList<TransitionRecord> transitions, CancellationToken ct = default)
    {
        if (transitions.Count == 0)
        {
            return [];
        }
        var written = await _transitionWrites.WriteAsync(transitions);
        signal.Pulse();
        return written;
    }

    /// <summary>
    /// Every write takes the transition lock, so lists appended at once (the shards' sweeps and rollouts, a sweep's
    /// customers each writing their own moves) go out in one transaction (<see cref="GroupWriter{T}"/>).
    /// </summary>
    private readonly GroupWriter<TransitionRecord> _transitionWrites =
        new(all => PlainFirstAsync(skipKnown => WriteTransitionsAsync(database.DataSource, all, skipKnown, CancellationToken.None)));

    /// <summary>Writes the transitions in one transaction under the transition lock; returns the ones it wrote.</summary>
    private static async Task<IReadOnlyList<TransitionRecord>> WriteTransitionsAsync(NpgsqlDataSource db, IReadOnlyList<TransitionRecord> transitions, bool skipKnown,
        CancellationToken ct)
    {
        await using var c = await db.OpenConnectionAsync(ct);
        await using var tx = await c.BeginTransactionAsync(ct);
        await LockAsync(c, tx, TransitionLock, ct);
        var written = skipKnown
            ? await InsertTransitionsSkippingKnownAsync(c, tx, transitions, ct)
            : await CopyTransitionsAsync(c, transitions, ct);
        await tx.CommitAsync(ct);
        return written;
    }

    /// <summary>
    /// A binary COPY of the transitions; it writes them all or fails on a key the log has (or a repeat among them). A
    /// retrain writes a row for every customer it moves, and COPY is faster than an INSERT over arrays, which also reads
    /// back the keys it wrote (deploy/bench/HISTORY.md, "Behind the code").
    /// </summary>
    private static async Task<IReadOnlyList<TransitionRecord>> CopyTransitionsAsync(NpgsqlConnection c, IReadOnlyList<TransitionRecord> transitions,
        CancellationToken ct)
    {
        await using (var w = await c.BeginBinaryImportAsync(
            "COPY transitions (customer_id, number, from_segment, to_segment, at, cause, model_version, drivers, from_name, to_name, log_position) FROM STDIN (FORMAT BINARY)", ct))
        {
            foreach (var t in transitions)
            {
                await w.StartRowAsync(ct);
                await w.WriteAsync(t.CustomerId, NpgsqlDbType.Text, ct);
                await w.WriteAsync(t.Number, NpgsqlDbType.Bigint, ct);
                await w.WriteAsync(t.FromSegmentId, NpgsqlDbType.Text, ct);
                await w.WriteAsync(t.ToSegmentId, NpgsqlDbType.Text, ct);
                await w.WriteAsync(t.At.Ticks, NpgsqlDbType.Bigint, ct);
                await w.WriteAsync((int)t.Cause, NpgsqlDbType.Integer, ct);
                await w.WriteAsync(t.ModelVersion, NpgsqlDbType.Bigint, ct);
                await WriteNullableAsync(w, Drivers.ToJson(t.Drivers), ct);
                await WriteNullableAsync(w, t.FromSegmentName, ct);
                await WriteNullableAsync(w, t.ToSegmentName, ct);
                if (t.LogPosition is { } position)
                {
                    await w.WriteAsync(position, NpgsqlDbType.Bigint, ct);
                }
                else
                {
                    await w.WriteNullAsync(ct);
                }
            }
            await w.CompleteAsync(ct);
        }
        return transitions;
    }

    /// <summary>
    /// The transitions less the ones the log has, each once: the same transition can come twice in one write (kept from
    /// a failed write and handed over again). Returns the ones it wrote.
    /// </summary>
    private static async Task<IReadOnlyList<TransitionRecord>> InsertTransitionsSkippingKnownAsync(NpgsqlConnection c, NpgsqlTransaction tx,
        IReadOnlyList<TransitionRecord> transitions, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            INSERT INTO transitions (customer_id, number, from_segment, to_segment, at, cause, model_version, drivers, from_name, to_name, log_position)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::int[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::bigint[])
            ON CONFLICT (customer_id, number) DO NOTHING
            RETURNING customer_id, number
            """, c, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = transitions.Select(t => t.CustomerId).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = transitions.Select(t => t.Number).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = transitions.Select(t => t.FromSegmentId).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = transitions.Select(t => t.ToSegmentId).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = transitions.Select(t => t.At.Ticks).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = transitions.Select(t => (int)t.Cause).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = transitions.Select(t => t.ModelVersion).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = transitions.Select(t => Drivers.ToJson(t.Drivers)).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = transitions.Select(t => t.FromSegmentName).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = transitions.Select(t => t.ToSegmentName).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = transitions.Select(t => t.LogPosition).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
        var written = new HashSet<(string, long)>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            written.Add((reader.GetString(0), reader.GetInt64(1)));
        }
        return transitions.Where(t => written.Remove((t.CustomerId, t.Number))).ToArray();
    }

    public async Task<TransitionCount[]> CountTransitionsAsync(DateTime? from, DateTime? to, long? modelVersion = null,
        IReadOnlyCollection<TransitionCause>? causes = null, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("""
            SELECT from_segment, to_segment, COUNT(*) FROM transitions
            WHERE at >= $1 AND at < $2 AND ($3::bigint IS NULL OR model_version = $3) AND ($4::int[] IS NULL OR cause = ANY($4))
            GROUP BY from_segment, to_segment
            """);
        cmd.Parameters.AddWithValue(from?.Ticks ?? long.MinValue);
        cmd.Parameters.AddWithValue(to?.Ticks ?? long.MaxValue);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)modelVersion ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
        cmd.Parameters.Add(new NpgsqlParameter
        {
            Value = causes is { Count: > 0 } ? causes.Select(x => (int)x).ToArray() : DBNull.Value,
            NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer,
        });
        var list = new List<TransitionCount>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new TransitionCount(r.GetString(0), r.GetString(1), r.GetInt64(2)));
        }
        return list.ToArray();
    }

    public async Task<TransitionPage> ReadTransitionsAsync(long after, int limit, TransitionFilter filter, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("""
            SELECT id, customer_id, number, from_segment, to_segment, at, cause, model_version, drivers, from_name, to_name, log_position
            FROM transitions WHERE id > $1 ORDER BY id LIMIT $2
            """);
        cmd.Parameters.AddWithValue(after);
        cmd.Parameters.AddWithValue(limit);
        var list = new List<LoggedTransition>();
        var last = after;
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            last = r.GetInt64(0);
            var t = ReadTransition(r, 1);
            if (filter.Matches(t))
            {
                list.Add(new LoggedTransition(last, t));
            }
        }
        return new TransitionPage(list.ToArray(), last);
    }

    public async Task<long> LastCursorAsync(CancellationToken ct = default) =>
        (long)(await Scalar("SELECT COALESCE(MAX(id), 0) FROM transitions", ct))!;

    public async Task<bool> MovedAgainAsync(string customerId, long number, DateTime before, SegmentKind kind, CancellationToken ct = default) =>
        (bool)(await Scalar($"SELECT EXISTS (SELECT 1 FROM transitions WHERE customer_id = $1 AND number > $2 AND at < $3 AND {SqliteEventLog.IsRfmMove} = $4)",
            ct, customerId, number, before.Ticks, kind == SegmentKind.Rfm))!;

    public async Task<long> GetMetaAsync(string key, CancellationToken ct = default) =>
        await Scalar("SELECT value FROM engine_meta WHERE key = $1", ct, key) is long v ? v : 0;

    public Task SetMetaAsync(string key, long value, CancellationToken ct = default) =>
        Scalar("INSERT INTO engine_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", ct, key, value);

    public async Task<Dictionary<string, long>> ListMetaAsync(string prefix, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("SELECT key, value FROM engine_meta WHERE starts_with(key, $1)");
        cmd.Parameters.AddWithValue(prefix);
        var map = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            map[r.GetString(0)] = r.GetInt64(1);
        }
        return map;
    }

    public Task DeleteMetaAsync(string key, CancellationToken ct = default) =>
        Scalar("DELETE FROM engine_meta WHERE key = $1", ct, key);

    public Task CreateWebhookAsync(WebhookRecord w, CancellationToken ct = default) =>
        Scalar("""
            INSERT INTO webhooks (id, url, secret, filter, delivered_after, created_at, format, headers, max_batch, max_wait_ms)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            """, ct, w.Id, w.Url, w.Secret, w.FilterJson, w.DeliveredAfter, w.CreatedAt.Ticks, w.Format, (object?)w.HeadersJson ?? DBNull.Value,
            w.MaxBatch, (long)w.MaxWait.TotalMilliseconds);

    public async Task<WebhookRecord[]> ListWebhooksAsync(CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand($"SELECT {SqliteEventLog.WebhookColumns} FROM webhooks ORDER BY created_at, id");
        var list = new List<WebhookRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            DateTime? At(int i) => r.IsDBNull(i) ? null : Ticks(r.GetInt64(i));
            list.Add(new WebhookRecord(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), Ticks(r.GetInt64(5)),
                At(6), At(7), r.IsDBNull(8) ? null : r.GetString(8), r.GetString(9), r.IsDBNull(10) ? null : r.GetString(10), r.GetInt32(11),
                TimeSpan.FromMilliseconds(r.GetInt64(12))));
        }
        return list.ToArray();
    }

    public async Task<bool> DeleteWebhookAsync(string id, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("DELETE FROM webhooks WHERE id = $1");
        cmd.Parameters.AddWithValue(id);
        return await cmd.ExecuteNonQueryAsync(ct) > 0;
    }

    public Task AdvanceWebhookAsync(string id, long cursor, DateTime? deliveredAt, CancellationToken ct = default) =>
        deliveredAt is { } at
            ? Scalar("UPDATE webhooks SET delivered_after = GREATEST(delivered_after, $2), last_success_at = $3, paused_until = NULL, last_error = NULL WHERE id = $1",
                ct, id, cursor, at.Ticks)
            : Scalar("UPDATE webhooks SET delivered_after = GREATEST(delivered_after, $2) WHERE id = $1", ct, id, cursor);

    public Task UpdateWebhookFilterAsync(string id, string filterJson, CancellationToken ct = default) =>
        Scalar("UPDATE webhooks SET filter = $2 WHERE id = $1", ct, id, filterJson);

    public async Task RecordWebhookFailureAsync(string id, string error, DateTime? pausedUntil, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("UPDATE webhooks SET last_error = $2, paused_until = $3 WHERE id = $1");
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(error);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)pausedUntil?.Ticks ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public Task RemoveDeadLettersAsync(string webhookId, IReadOnlyCollection<long> cursors, CancellationToken ct = default) =>
        Scalar("DELETE FROM webhook_dead_letters WHERE webhook_id = $1 AND cursor = ANY($2)", ct, webhookId, cursors.ToArray());

    public Task AddDeadLetterAsync(DeadLetter d, CancellationToken ct = default) =>
        Scalar("INSERT INTO webhook_dead_letters (webhook_id, cursor, attempts, last_error, body, failed_at) VALUES ($1, $2, $3, $4, $5, $6)", ct,
            d.WebhookId, d.Cursor, d.Attempts, d.LastError, d.Body, d.FailedAt.Ticks);

    public async Task<DeadLetter[]> ListDeadLettersAsync(string? webhookId, CancellationToken ct = default)
    {
        await using var cmd = _db.CreateCommand("""
            SELECT webhook_id, cursor, attempts, last_error, body, failed_at FROM webhook_dead_letters
            WHERE $1::text IS NULL OR webhook_id = $1 ORDER BY id
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)webhookId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        var list = new List<DeadLetter>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new DeadLetter(r.GetString(0), r.GetInt64(1), r.GetInt32(2), r.GetString(3), r.GetString(4), Ticks(r.GetInt64(5))));
        }
        return list.ToArray();
    }

    private static DateTime Ticks(long ticks) => new(ticks, DateTimeKind.Utc);

    private static async Task LockAsync(NpgsqlConnection c, NpgsqlTransaction tx, long key, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", c, tx);
        cmd.Parameters.AddWithValue(key);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private async Task<object?> Scalar(string sql, CancellationToken ct, params object[] args)
    {
        await using var cmd = _db.CreateCommand(sql);
        foreach (var a in args)
        {
            cmd.Parameters.AddWithValue(a);
        }
        return await cmd.ExecuteScalarAsync(ct);
    }
}
