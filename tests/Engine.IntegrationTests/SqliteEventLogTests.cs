using Engine.Core;
using Engine.Abstractions;
using Engine.Storage;
using Microsoft.Data.Sqlite;

namespace Engine.IntegrationTests;

/// <summary>
/// The SQLite ingest log finds a customer's events through a chain of rows (prev_seq) and a head per customer instead
/// of an index on customer: every tail read must still return exactly that customer's events after the position asked.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SqliteEventLogTests : IDisposable
{
    private static readonly DateTime At = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "engine-log-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task The_transition_log_returns_the_transitions_it_wrote_and_not_the_repeats()
    {
        using var log = OpenLog();
        await RepeatsAreIgnoredAndNotReturnedAsync(log);
    }

    [Fact]
    public async Task A_move_counts_as_moved_again_by_the_customers_numbering_not_the_log_order()
    {
        using var log = OpenLog();
        await MovedAgainFollowsTheCustomersNumbersAsync(log);
    }

    /// <summary>
    /// A rollout logs its round's moves after the round, so a customer's next move (from ingest) can reach the log first.
    /// The minimum-dwell check must still see that the earlier move was followed by the later one, and not the reverse.
    /// Shared with the PostgreSQL log's test.
    /// </summary>
    internal static async Task MovedAgainFollowsTheCustomersNumbersAsync(IEventLog log)
    {
        TransitionRecord T(long number, string from, string to, int day) =>
            new("c", number, from, to, At.AddDays(day), number == 2 ? TransitionCause.Retrain : TransitionCause.Event, 1);
        await log.AppendTransitionsAsync([T(1, Unassigned.SegmentId, "s1", 0)]);
        await log.AppendTransitionsAsync([T(3, "s2", "s3", 2)]);
        await log.AppendTransitionsAsync([T(2, "s1", "s2", 1)]);
        var logged = (await log.ReadTransitionsAsync(0, 10, TransitionFilter.Any)).Items;
        Assert.Equal([1L, 3, 2], logged.Select(t => t.Transition.Number));

        // s1 -> s2 (logged last) was followed by s2 -> s3 a day later; s2 -> s3 by nothing of its kind: the customer's
        // first RFM segment two days later is a move of the other kind.
        await log.AppendTransitionsAsync([T(4, Unassigned.SegmentId, RfmScores.Loyal.Id, 4)]);
        Assert.True(await log.MovedAgainAsync("c", 2, At.AddDays(3), SegmentKind.Learned));
        Assert.False(await log.MovedAgainAsync("c", 2, At.AddDays(2), SegmentKind.Learned));
        Assert.False(await log.MovedAgainAsync("c", 3, At.AddDays(30), SegmentKind.Learned));
        Assert.True(await log.MovedAgainAsync("c", 3, At.AddDays(30), SegmentKind.Rfm));
        Assert.False(await log.MovedAgainAsync("c", 4, At.AddDays(30), SegmentKind.Rfm));
        Assert.False(await log.MovedAgainAsync("other", 0, At.AddDays(30), SegmentKind.Learned));
    }

    [Fact]
    public async Task A_first_assignment_stored_before_0_2_0_comes_from_unassigned_once_the_store_is_migrated()
    {
        var database = new SqliteDatabase(_directory);
        database.Migrate();
        using (var log = new SqliteEventLog(database, new TransitionSignal()))
        {
            await log.AppendTransitionsAsync([new("c", 1, "", "s1", At, TransitionCause.Event, 1)]);
        }
        // The store as 0.1.0 left it: a transition from "" and script 008 not yet run.
        using (var c = new SqliteConnection(database.LogConnectionString))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "DELETE FROM schema_version WHERE script = '008-unassigned-origin.sql'";
            Assert.Equal(1, cmd.ExecuteNonQuery());
        }
        using var migrated = OpenLog();
        var read = Assert.Single((await migrated.ReadTransitionsAsync(0, 10, TransitionFilter.Any)).Items).Transition;
        Assert.Equal(Unassigned.SegmentId, read.FromSegmentId);
    }

    /// <summary>A log over a fresh schema in this test's directory.</summary>
    private SqliteEventLog OpenLog()
    {
        var database = new SqliteDatabase(_directory);
        database.Migrate();
        return new SqliteEventLog(database, new TransitionSignal());
    }

    /// <summary>
    /// A recovery hands over transitions the log may have: the log keeps one of each and says which were new, so the
    /// metrics count each move once; what it keeps reads back as written, drivers included. Shared with the PostgreSQL
    /// log's test (whose first write is a COPY, and a write with a known key an INSERT that skips it).
    /// </summary>
    internal static async Task RepeatsAreIgnoredAndNotReturnedAsync(IEventLog log)
    {
        TransitionRecord T(string customer, long number, string to, Driver[]? drivers = null) =>
            new(customer, number, Unassigned.SegmentId, to, At, TransitionCause.Event, 1, drivers);
        Driver[] drivers = [new("recency_days", 0.75), new("frequency", 0.25)];
        Assert.Equal(2, (await log.AppendTransitionsAsync([T("a", 1, "s1", drivers), T("b", 1, "s1")])).Count);
        var first = Assert.Single((await log.ReadTransitionsAsync(0, 10, TransitionFilter.Any)).Items, t => t.Transition.CustomerId == "a").Transition;
        Assert.Equal((At, TransitionCause.Event, 1L), (first.At, first.Cause, first.ModelVersion));
        Assert.Equal(drivers, first.Drivers);
        // a/2 twice in one write, as when a failed write's kept transitions go out with a recovery's.
        var written = await log.AppendTransitionsAsync([T("a", 1, "s2"), T("a", 2, "s2"), T("b", 1, "s2"), T("a", 2, "s2")]);
        Assert.Equal(("a", 2L), (Assert.Single(written).CustomerId, written[0].Number));
        var stored = (await log.ReadTransitionsAsync(0, 10, TransitionFilter.Any)).Items.Select(t => t.Transition).ToArray();
        Assert.Equal(["s1", "s2", "s1"], stored.OrderBy(t => t.CustomerId).ThenBy(t => t.Number).Select(t => t.ToSegmentId));
    }

    [Fact]
    public async Task Appends_at_once_each_get_back_the_transitions_they_added_and_each_is_kept_once()
    {
        using var log = OpenLog();
        await AppendsAtOnceAsync(log);
    }

    /// <summary>
    /// The shards' sweeps and rollouts append at once, and the SQLite log writes every list queued in one transaction:
    /// each caller must still get back exactly the rows it added (the metrics count those), whoever's write took its
    /// list, and a (customer, number) that two lists carry is added once, to one of them. Shared with the PostgreSQL log's test.
    /// </summary>
    internal static async Task AppendsAtOnceAsync(IEventLog log)
    {
        TransitionRecord T(int customer, long number) =>
            new($"c{customer}", number, Unassigned.SegmentId, "s1", At.AddMinutes(number), TransitionCause.Inactivity, 1);
        await log.AppendTransitionsAsync([T(40, 1), T(41, 1)]);
        // 40 lists, number i % 20 + 1 each: the first 20 of customers 0..59, the others of 40..99, so customers 40..59
        // are in two lists of each number; c40/1 and c41/1 are in the log already. A large write goes first, so that the
        // lists queue behind it and go out together.
        var lists = Enumerable.Range(0, 40)
            .Select(i => Enumerable.Range(i < 20 ? 0 : 40, 60).Select(c => T(c, i % 20 + 1)).ToArray())
            .ToArray();
        var large = log.AppendTransitionsAsync([.. Enumerable.Range(1_000, 20_000).Select(c => T(c, 1))]);
        var written = await Task.WhenAll(lists.Select(l => log.AppendTransitionsAsync(l)));
        Assert.Equal(20_000, (await large).Count);

        for (var i = 0; i < lists.Length; i++)
        {
            Assert.All(written[i], t => Assert.Contains(t, lists[i]));
        }
        var added = written.SelectMany(w => w).Select(t => (t.CustomerId, t.Number)).ToList();
        var expected = lists.SelectMany(l => l).Select(t => (t.CustomerId, t.Number)).Distinct()
            .Except([("c40", 1L), ("c41", 1L)]).ToList();
        Assert.Equal(2_000 - 2, expected.Count);
        Assert.Equal(expected.Order(), added.Order());
        var stored = (await log.ReadTransitionsAsync(0, 30_000, TransitionFilter.Any)).Items;
        Assert.Equal(expected.Count + 2 + 20_000, stored.Count());
    }

    [Fact]
    public async Task A_recovery_read_returns_the_tail_and_the_moves_by_silence_after_the_number_asked()
    {
        using var log = OpenLog();
        await RecoveryTailAsync(log);
    }

    [Fact]
    public async Task Tail_reads_leave_no_read_open_that_holds_back_a_checkpoint_and_read_text_as_written()
    {
        using var log = OpenLog();
        await RecoveryTailAsync(log);
        // Text as written, the empty category included (an empty binding must not store NULL).
        await log.AppendAsync([new("t1", "c", EventKind.Purchase, At, 5, "rock", null), new("t2", "c", EventKind.Purchase, At, 6, "", null)], At, 1);
        Assert.Equal(["rock", ""], (await log.ReadRecoveryTailAsync("c", 0, 0)).Events.Select(e => e.Category));
        Assert.Empty((await log.ReadRecoveryTailAsync("nobody", 0, 0)).Events);

        // Each read's statements are reset after it: a statement left mid-run keeps its read snapshot, and no checkpoint
        // could fold the WAL back past it, so the WAL would grow for as long as the reader stays in the pool.
        using var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_directory, "log.db"), Pooling = false }.ToString());
        c.Open();
        using var checkpoint = c.CreateCommand();
        checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
        using var r = checkpoint.ExecuteReader();
        Assert.True(r.Read());
        Assert.Equal(0, r.GetInt32(0)); // not busy
    }

    /// <summary>
    /// An activation reads its events after its checkpoint and its moves by silence numbered after it (the transitions
    /// with a log position), in number order, with what the customer needs to re-apply them. Shared with the PostgreSQL log's test.
    /// </summary>
    internal static async Task RecoveryTailAsync(IEventLog log)
    {
        var appended = await log.AppendAsync(
            [.. Enumerable.Range(0, 4).Select(i => new PendingEvent($"r{i}", i % 2 == 0 ? "a" : "b", EventKind.Purchase, At.AddDays(i), 10, null, null))], At, 1);
        var (a1, a2) = (appended.Seqs[0], appended.Seqs[2]);
        Driver[] drivers = [new("recency_days", 1.5)];
        TransitionRecord T(string customer, long number, TransitionCause cause, long? position) =>
            new(customer, number, $"s{number - 1}", $"s{number}", At.AddDays(number), cause, 1, cause == TransitionCause.Inactivity ? drivers : null,
                $"S{number - 1}", $"S{number}", position);
        await log.AppendTransitionsAsync([T("a", 1, TransitionCause.Event, null), T("a", 3, TransitionCause.Inactivity, a2), T("b", 1, TransitionCause.Inactivity, 7)]);
        await log.AppendTransitionsAsync([T("a", 2, TransitionCause.Inactivity, a1), T("a", 4, TransitionCause.Event, null)]);

        // Records compare their drivers by reference: compare what they hold.
        static string Held(TransitionRecord t) => $"{t with { Drivers = null }} {string.Join(",", t.Drivers?.Select(d => d.ToString()) ?? [])}";

        var tail = await log.ReadRecoveryTailAsync("a", a1, 1);
        Assert.Equal([a2], tail.Events.Select(e => e.LogPosition));
        Assert.Equal([Held(T("a", 2, TransitionCause.Inactivity, a1)), Held(T("a", 3, TransitionCause.Inactivity, a2))], tail.Moves!.Select(Held));
        Assert.Empty((await log.ReadRecoveryTailAsync("a", 0, 3)).Moves!);
        Assert.Null((await log.ReadCustomerTailAsync("a", 0)).Moves);
        // The transition log reads the position back too.
        var read = (await log.ReadTransitionsAsync(0, 10, TransitionFilter.Any)).Items.Select(t => Held(t.Transition)).ToList();
        Assert.Contains(Held(T("b", 1, TransitionCause.Inactivity, 7)), read);
    }

    [Fact]
    public async Task A_batch_with_known_and_repeated_event_ids_appends_the_rest_in_order()
    {
        using var log = OpenLog();
        await KnownAndRepeatedIdsAreSkippedAsync(log);
    }

    /// <summary>
    /// A client's retry sends events the log has, and a batch may carry an id twice: those get no position, the rest
    /// are appended in batch order, and the log holds each id once, with the model version its append was stamped with
    /// (both the plain write and the one that skips known ids). Shared with the PostgreSQL log's test.
    /// </summary>
    internal static async Task KnownAndRepeatedIdsAreSkippedAsync(IEventLog log)
    {
        PendingEvent E(string id, string customer) => new(id, customer, EventKind.Purchase, At, 5, null, null);
        var first = await log.AppendAsync([E("e1", "a"), E("e2", "b")], At, 3);
        Assert.DoesNotContain(0L, first.Seqs);
        var second = await log.AppendAsync([E("e2", "b"), E("e3", "a"), E("e3", "a"), E("e4", "b")], At.AddTicks(1), 4);
        Assert.Equal([false, true, false, true], second.Seqs.Select(s => s > 0));
        Assert.True(second.Seqs[1] > first.Seqs.Max() && second.Seqs[3] > second.Seqs[1]);
        var stored = await log.ReadCustomersAsync(["a", "b"], 0, second.Seqs.Max());
        Assert.Equal(["e1", "e2", "e3", "e4"], stored.Select(e => e.EventId));
        Assert.Equal([.. first.Seqs, second.Seqs[1], second.Seqs[3]], stored.Select(e => e.LogPosition));
        Assert.Equal([3L, 3, 4, 4], stored.Select(e => e.ModelVersion));
        Assert.Equal(4, (await log.ReadCustomerTailAsync("a", first.Seqs[0])).Events.Single().ModelVersion);

        // An id is the customer's: b's "e1" is another event than a's, in a write that also repeats a's (skipping known
        // keys) and in one that does not (the plain write).
        var third = await log.AppendAsync([E("e1", "b"), E("e1", "a")], At.AddTicks(2), 4);
        Assert.Equal([true, false], third.Seqs.Select(s => s > 0));
        var fourth = await log.AppendAsync([E("e3", "b")], At.AddTicks(3), 4);
        Assert.True(fourth.Seqs[0] > third.Seqs[0]);
        Assert.Equal(["e2", "e4", "e1", "e3"], (await log.ReadCustomerTailAsync("b", 0)).Events.Select(e => e.EventId));
    }

    [Fact]
    public async Task The_quarantine_holds_records_with_their_events_discards_and_removes_them()
    {
        using var log = OpenLog();
        await QuarantineHoldsDiscardsAndRemovesAsync(log);
    }

    /// <summary>The quarantine's records come back with their logged events, in log order and by page. Shared with PostgreSQL.</summary>
    internal static async Task QuarantineHoldsDiscardsAndRemovesAsync<T>(T log) where T : IEventLog, IQuarantineStore
    {
        var appended = await log.AppendAsync(
            [.. Enumerable.Range(0, 5).Select(i => new PendingEvent($"q{i}", $"c{i % 2}", EventKind.Purchase, At.AddDays(i), 10 + i, i == 0 ? "rock" : null, null))], At, 2);
        var events = await log.ReadCustomersAsync(["c0", "c1"], 0, appended.Seqs.Max());
        Assert.Equal(0, await log.CountPendingAsync());
        await log.AddAsync([.. events.Take(4).Select(e => new QuarantineRecord(e, $"failed {e.EventId}", At))]);
        // A second record of the same event keeps one row, with the newer error.
        await log.AddAsync([new QuarantineRecord(events[0], "failed again", At)]);
        Assert.Equal(4, await log.CountPendingAsync());

        var page = await log.ListAsync(includeDiscarded: false, afterSeq: 0, limit: 3);
        Assert.Equal(events.Take(3), page.Select(q => q.Event));
        Assert.Equal(["failed again", "failed q1", "failed q2"], page.Select(q => q.Error));
        Assert.Equal(events[3], Assert.Single(await log.ListAsync(false, page[^1].Event.LogPosition, 3)).Event);

        Assert.True(await log.DiscardAsync(events[1].LogPosition, At.AddHours(1)));
        Assert.False(await log.DiscardAsync(events[1].LogPosition, At.AddHours(2)));
        Assert.Equal(At.AddHours(1), (await log.GetAsync(events[1].LogPosition))!.DiscardedAt);
        Assert.Equal(3, (await log.ListAsync(false, 0, 10)).Length);
        Assert.Equal(4, (await log.ListAsync(true, 0, 10)).Length);
        await log.SetErrorAsync(events[2].LogPosition, "still failing");
        Assert.Equal("still failing", (await log.GetAsync(events[2].LogPosition))!.Error);
        Assert.True(await log.RemoveAsync(events[2].LogPosition));
        Assert.False(await log.RemoveAsync(events[2].LogPosition));
        Assert.Null(await log.GetAsync(events[2].LogPosition));
        Assert.Null(await log.GetAsync(events[4].LogPosition));
        Assert.Equal(2, await log.CountPendingAsync());
    }

    [Fact]
    public async Task Tail_reads_return_exactly_each_customers_events_after_the_position_asked()
    {
        using var log = OpenLog();
        var expected = await AppendRandomBatchesAsync(log, seed: 1, batches: 30, prefix: "e");

        await AssertTailsAsync(log, expected);
    }

    [Fact]
    public async Task A_log_written_before_the_chain_is_linked_when_the_schema_is_upgraded()
    {
        // Build the schema as the previous release left it (scripts before 004), with rows written the old way.
        var database = new SqliteDatabase(_directory);
        var rng = new Random(2);
        var expected = new List<(long LogPosition, string Customer, string EventId)>();
        using (var c = new SqliteConnection(database.LogConnectionString))
        {
            c.Open();
            Execute(c, "CREATE TABLE schema_version (script TEXT PRIMARY KEY, applied_at TEXT NOT NULL)");
            foreach (var (name, text) in SqlScripts.For("sqlite").Where(s => !s.Name.Contains("orleans") && string.CompareOrdinal(s.Name, "004") < 0))
            {
                Execute(c, text);
                Execute(c, $"INSERT INTO schema_version VALUES ('{name}', 'then')");
            }
            for (var seq = 1; seq <= 500; seq++)
            {
                var customer = $"c{rng.Next(20)}";
                Execute(c, $"INSERT INTO ingest_log (seq, event_id, customer_id, kind, occurred_at, amount, as_of) VALUES ({seq}, 'old-{seq}', '{customer}', 1, {At.Ticks}, 1, {At.Ticks + seq})");
                expected.Add((seq, customer, $"old-{seq}"));
            }
        }

        database.Migrate();
        using var log = new SqliteEventLog(database, new TransitionSignal());
        // New appends continue the customers' chains from the rows the upgrade linked.
        expected.AddRange(await AppendRandomBatchesAsync(log, seed: 3, batches: 5, prefix: "new"));

        await AssertTailsAsync(log, expected);
        // Rows from before events carried their model say so (a replay assigns them under the current model).
        var customers = expected.Select(e => e.Customer).Distinct().ToArray();
        Assert.All(await log.ReadCustomersAsync(customers, 0, 500), e => Assert.Equal(LoggedEvent.Unstamped, e.ModelVersion));
        Assert.All(await log.ReadCustomersAsync(customers, 500, long.MaxValue), e => Assert.InRange(e.ModelVersion, 0, 4));
        using var check = new SqliteConnection(database.LogConnectionString);
        check.Open();
        using var index = check.CreateCommand();
        index.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'ix_ingest_log_customer'";
        Assert.Equal(0L, (long)index.ExecuteScalar()!);
    }

    /// <summary>Batches over 20 customers, a customer often several times in one batch, with retried (duplicate) events.</summary>
    private static async Task<List<(long LogPosition, string Customer, string EventId)>> AppendRandomBatchesAsync(SqliteEventLog log, int seed, int batches, string prefix)
    {
        var rng = new Random(seed);
        var written = new List<(long LogPosition, string Customer, string EventId)>();
        var sent = new List<(string Id, string Customer)>();
        for (var b = 0; b < batches; b++)
        {
            var events = new List<PendingEvent>();
            var size = rng.Next(1, 40);
            for (var i = 0; i < size; i++)
            {
                // One in five resends an event already sent (in this batch or an earlier one): it must not join any chain.
                var (id, customer) = sent.Count > 0 && rng.Next(5) == 0 ? sent[rng.Next(sent.Count)] : ($"{prefix}-{sent.Count}", $"c{rng.Next(20)}");
                if (id == $"{prefix}-{sent.Count}")
                {
                    sent.Add((id, customer));
                }
                events.Add(new PendingEvent(id, customer, EventKind.Purchase, At.AddMinutes(b), 5, null, null));
            }
            var seqs = (await log.AppendAsync(events, At.AddMinutes(b), b)).Seqs;
            for (var i = 0; i < events.Count; i++)
            {
                if (seqs[i] > 0)
                {
                    written.Add((seqs[i], events[i].CustomerId, events[i].EventId));
                }
            }
        }
        Assert.Equal(written.Count, written.Select(w => w.EventId).Distinct().Count());
        return written;
    }

    private static async Task AssertTailsAsync(SqliteEventLog log, List<(long LogPosition, string Customer, string EventId)> written)
    {
        var head = written.Max(w => w.LogPosition);
        foreach (var customer in written.Select(w => w.Customer).Distinct().Append("nobody"))
        {
            foreach (var after in new long[] { 0, head / 3, head / 2, head - 5, head })
            {
                var tail = await log.ReadCustomerTailAsync(customer, after);
                var want = written.Where(w => w.Customer == customer && w.LogPosition > after).OrderBy(w => w.LogPosition).Select(w => (w.LogPosition, w.EventId));
                Assert.Equal(want, tail.Events.Select(e => (e.LogPosition, e.EventId)));
                Assert.All(tail.Events, e => Assert.Equal(customer, e.CustomerId));
                Assert.Equal(head, tail.Head);
            }
        }
    }

    private static void Execute(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
