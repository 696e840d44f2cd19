using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Engine.Api.V1;
using Engine.Core;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Engine.ProcessTests;

/// <summary>
/// Inactivity transitions, the resumable alert feed, webhooks and transition analytics, over real gRPC. The data:
/// active customers buy every ten days for 400 days; "stoppers" do the same but stop at day 200; one-off buyers buy
/// once at the start. Replayed in event time, the stoppers must drift into a lapsed segment by silence alone.
/// </summary>
[Trait("Category", "Process")]
public sealed class AlertTests
{
    private static readonly TimeSpan Sweep = TimeSpan.FromDays(1);

    private static Dictionary<string, string?> Settings(string? extra = null) => new()
    {
        ["Engine:AutoTrainMinCustomers"] = "1000000",
        ["Engine:SweepInterval"] = "1.00:00:00",
        ["Engine:WebhookRetryDelay"] = "00:00:00.050",
        ["Engine:WebhookMaxAttempts"] = "5",
        ["Engine:DriftCheckInterval"] = "01:00:00",
    };

    private static Synthetic Lapsing()
    {
        var s = new Synthetic();
        var rng = new Random(41);
        var n = 0;
        for (var c = 0; c < 450; c++)
        {
            var id = $"{(c % 3) switch { 0 => "active", 1 => "stopper", _ => "oneoff" }}-{c:D4}";
            var last = (c % 3) switch { 0 => 400, 1 => 200, _ => 9 };
            for (var day = rng.Next(0, 10); day <= last; day += 10)
            {
                s.Add($"l{n++}", id, EventType.Purchase, Synthetic.Start.AddDays(day).AddHours(rng.Next(0, 24)), 30 + rng.Next(0, 20), "music");
            }
        }
        var ordered = s.Events.OrderBy(e => e.OccurredAt.ToDateTime()).ToList();
        s.Events.Clear();
        s.Events.AddRange(ordered);
        return s;
    }

    /// <summary>Phase 1 up to day 200, a model trained on it, then phase 2 to day 400.</summary>
    private static async Task<Synthetic> ReplayAsync(EngineServer server)
    {
        var data = Lapsing();
        var cut = Synthetic.Start.AddDays(200);
        await server.IngestAllAsync(data.Events.Where(e => e.OccurredAt.ToDateTime() < cut), 200);
        await server.Models.RetrainAsync(new RetrainRequest { K = 3 });
        await server.IngestAllAsync(data.Events.Where(e => e.OccurredAt.ToDateTime() >= cut), 200);
        return data;
    }

    /// <summary>Synthetic customers segmented by a first model (k = 3): every customer's first assignment is an alert.</summary>
    private static async Task<int> SegmentedAsync(EngineServer server, int customers, int seed)
    {
        var data = await Population.SegmentedAsync(server, customers, seed);
        return (await Population.HistoriesAsync(server, data.CustomerIds)).Values.Sum(h => h.Count);
    }

    [Fact]
    public async Task Silence_moves_stoppers_by_inactivity_dated_when_they_cross_the_boundary()
    {
        await using var server = await new EngineServer(settings: Settings()).StartAsync();
        var data = await ReplayAsync(server);
        var model = await server.Models.GetModelAsync(new GetModelRequest());
        var stoppers = data.CustomerIds.Where(id => id.StartsWith("stopper")).ToList();
        var histories = await Population.HistoriesAsync(server, stoppers);
        var end = data.Watermark;

        var moved = 0;
        foreach (var (id, history) in histories)
        {
            var events = data.Events.Where(e => e.CustomerId == id).ToList();
            var lastEvent = events.Max(e => e.OccurredAt.ToDateTime());
            foreach (var t in history.Where(t => t.Cause == Cause.Inactivity))
            {
                moved++;
                var at = t.At.ToDateTime();
                Assert.True(at > lastEvent, $"{id}: inactivity at {at:O} before its last event {lastEvent:O}");
                Assert.True(at < end.AddDays(-1), $"{id}: inactivity dated at the end of the replay ({at:O})");
                // Dated when silence made it cross, to one sweep interval: the model puts it in the new segment a sweep
                // interval after `at`, and in the old one a sweep interval before. (At `at` itself it sits on the
                // boundary, where this test's re-derived centroids are too coarse to judge.)
                var after = NearestAt(model, events, at + Sweep);
                var before = NearestAt(model, events, at - Sweep - TimeSpan.FromHours(1));
                Assert.True((t.ToSegmentId, t.FromSegmentId) == (after, before),
                    $"{id}: {t.FromSegmentId}->{t.ToSegmentId} at {at:O} (last event {lastEvent:O}); the model says {before} before and {after} at; history {string.Join(" | ", history.Select(h => $"{h.FromSegmentId}->{h.ToSegmentId} {h.Cause} {h.At.ToDateTime():O} v{h.ModelVersion}"))}");
            }
        }
        Assert.True(moved >= stoppers.Count / 2, $"only {moved} inactivity transitions for {stoppers.Count} stoppers");

        // Analytics: the INACTIVITY-only matrix counts exactly those moves; a version filter keeps to one model.
        var all = data.CustomerIds.ToList();
        var allHistories = await Population.HistoriesAsync(server, all);
        var inactivity = await server.Segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest { Causes = { Cause.Inactivity } });
        Assert.Equal(allHistories.Values.Sum(h => h.Count(t => t.Cause == Cause.Inactivity)), inactivity.Counts.Sum() + inactivity.Entries.Sum());
        var v2 = await server.Segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest { ModelVersion = model.Version });
        Assert.Equal(allHistories.Values.Sum(h => h.Count(t => t.ModelVersion == model.Version)), v2.Counts.Sum() + v2.Entries.Sum());
        Assert.Contains(allHistories.Values.SelectMany(h => h), t => t.Cause == Cause.Inactivity && t.Drivers.Count > 0 && t.Drivers[0].Contribution > 0);

        var forecast = await server.Segments.ForecastAsync(new ForecastRequest { Period = Duration.FromTimeSpan(TimeSpan.FromDays(30)), Periods = 4 });
        Assert.Equal(4, forecast.Steps.Count);
        Assert.All(forecast.Steps, s => Assert.Equal(forecast.ObservedSizes.Sum(), s.Sizes.Sum(), 1e-6));
    }

    private static string NearestAt(Model model, IEnumerable<Event> events, DateTime at)
    {
        var profile = new CustomerProfile();
        foreach (var e in events.Where(e => e.OccurredAt.ToDateTime() <= at))
        {
            profile.Apply((EventKind)(int)e.Type, e.OccurredAt.ToDateTime(), e.Amount, e.Category);
        }
        var raw = new double[FeatureNames.Count];
        profile.ComputeFeatures(at, raw);
        double[] Scaled(Func<int, double> value)
        {
            var r = Enumerable.Range(0, FeatureNames.Count).Select(value).ToArray();
            var t = new float[r.Length];
            FeatureTransform.Forward(r, t);
            return t.Select((v, j) => (v - model.ScalerMean[j]) / model.ScalerStd[j]).ToArray();
        }
        var x = Scaled(j => raw[j]);
        return model.Segments.MinBy(s =>
        {
            var c = Scaled(j => s.Centroid[FeatureNames.All[j]]);
            return x.Zip(c, (a, b) => (a - b) * (a - b)).Sum();
        })!.SegmentId;
    }

    [Fact]
    public async Task A_filtered_subscriber_resumes_after_kill_minus_9_with_no_gap_and_no_duplicate()
    {
        var config = new EngineServer(settings: Settings());
        await using var process = new EngineProcess(config);
        await process.StartAsync();
        var data = await ReplayAsync(config);
        var histories = await Population.HistoriesAsync(config, data.CustomerIds);
        // The busiest move between two segments.
        var pair = histories.Values.SelectMany(h => h).Where(t => t.FromSegmentId != "")
            .GroupBy(t => (t.FromSegmentId, t.ToSegmentId)).MaxBy(g => g.Count())!.Key;
        var expected = histories.SelectMany(h => h.Value.Where(t => (t.FromSegmentId, t.ToSegmentId) == pair)
            .Select(t => (h.Key, t.At.ToDateTime()))).OrderBy(x => x).ToList();
        Assert.True(expected.Count >= 4, $"only {expected.Count} {pair} moves");

        var request = new SubscribeMigrationsRequest { FromSegmentIds = { pair.FromSegmentId }, ToSegmentIds = { pair.ToSegmentId } };
        var first = await ReadAlertsAsync(config, request, expected.Count / 2);
        process.Kill();
        await config.StopAsync();
        await process.StartAsync();
        request.ResumeAfter = first[^1].Cursor;
        var rest = await ReadAlertsAsync(config, request, expected.Count - first.Count);

        var all = first.Concat(rest).ToList();
        Assert.Equal(all.Count, all.Select(a => a.Cursor).Distinct().Count());
        Assert.True(all.Select(a => long.Parse(a.Cursor)).Zip(all.Skip(1).Select(a => long.Parse(a.Cursor))).All(p => p.First < p.Second));
        Assert.Equal(expected, all.Select(a => (a.CustomerId, a.Transition.At.ToDateTime())).OrderBy(x => x).ToList());
        Assert.All(all, a => Assert.Equal((pair.FromSegmentId, pair.ToSegmentId), (a.Transition.FromSegmentId, a.Transition.ToSegmentId)));
        Assert.All(all, a => Assert.Equal(a.CustomerId, a.Customer.CustomerId));

        // Nothing more is pending: a short wait after the last one brings nothing.
        request.ResumeAfter = all[^1].Cursor;
        Assert.Empty(await ReadAlertsAsync(config, request, int.MaxValue, TimeSpan.FromSeconds(1)));
    }

    /// <summary>
    /// A move by silence is not checkpointed by its customer: its transition row carries the customer's log position,
    /// and an activation re-applies it. Killed with no customer checkpointed since the moves, every history comes back
    /// whole; a later purchase's moves are numbered after them, so the transition log takes each one (the matrix adds up
    /// to the histories).
    /// </summary>
    [Fact]
    public async Task Moves_by_silence_survive_kill_minus_9_without_a_checkpoint_and_later_moves_follow_them()
    {
        var settings = Settings();
        settings["Engine:CheckpointInterval"] = "00:10:00";
        settings["Engine:CheckpointEvery"] = "100000";
        var config = new EngineServer(settings: settings);
        await using var process = new EngineProcess(config);
        await process.StartAsync();
        var data = await ReplayAsync(config);
        var ids = data.CustomerIds.ToList();
        var before = await SettledHistoriesAsync(config, ids);
        var bySilence = before.Values.Sum(h => h.Count(t => t.Cause == Cause.Inactivity));
        Assert.True(bySilence >= 100, $"only {bySilence} moves by silence");

        process.Kill();
        await config.StopAsync();
        await process.StartAsync();
        var after = await Population.HistoriesAsync(config, ids, Both);
        foreach (var id in ids)
        {
            Assert.Equal(before[id], after[id]);
        }

        // Every customer moved by silence buys big every day for ten days after the end: the moves this brings are
        // numbered after the restored ones (newest first in a history), and the log takes them.
        var again = new Synthetic();
        var silent = ids.Where(id => before[id].Any(t => t.Cause == Cause.Inactivity)).ToList();
        foreach (var id in silent)
        {
            for (var day = 1; day <= 10; day++)
            {
                again.Add($"again-{id}-{day}", id, EventType.Purchase, data.Watermark.AddDays(day), 400, "music");
            }
        }
        await config.IngestAllAsync(again.Events.OrderBy(e => e.OccurredAt.ToDateTime()).ToList(), 200);
        var final = await SettledHistoriesAsync(config, ids);
        foreach (var id in silent)
        {
            Assert.Equal(before[id], final[id].Skip(final[id].Count - before[id].Count));
        }
        // A learned move or not, each comes back from silence into another named RFM segment.
        var movedAgain = silent.Count(id => final[id].Count > before[id].Count);
        Assert.True(movedAgain >= silent.Count / 2, $"{movedAgain} of {silent.Count} customers moved after buying again; {silent[0]}: "
            + string.Join(" | ", final[silent[0]].Select(h => $"{h.FromSegmentId}->{h.ToSegmentId} {h.Cause} {h.At.ToDateTime():O}")));
        await Population.AssertMatrixMatchesHistoriesAsync(config, ids);
    }

    private static readonly Engine.Api.V1.SegmentKind[] Both = [Engine.Api.V1.SegmentKind.Learned, Engine.Api.V1.SegmentKind.Rfm];

    /// <summary>Histories (learned and RFM moves, one numbering) once two reads a second apart agree: the sweep at the end of a stream runs after its last answer.</summary>
    private static async Task<Dictionary<string, List<Transition>>> SettledHistoriesAsync(EngineServer server, List<string> ids)
    {
        var last = await Population.HistoriesAsync(server, ids, Both);
        for (var i = 0; i < 30; i++)
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            var now = await Population.HistoriesAsync(server, ids, Both);
            if (ids.All(id => now[id].SequenceEqual(last[id])))
            {
                return now;
            }
            last = now;
        }
        throw new TimeoutException("histories still changing after 30 s");
    }

    private static async Task<List<MigrationAlert>> ReadAlertsAsync(EngineServer server, SubscribeMigrationsRequest request, int count, TimeSpan? wait = null)
    {
        var alerts = new List<MigrationAlert>();
        using var cts = new CancellationTokenSource(wait ?? TimeSpan.FromSeconds(30));
        using var call = new AlertService.AlertServiceClient(server.Channel).SubscribeMigrations(request, cancellationToken: cts.Token);
        try
        {
            while (alerts.Count < count && await call.ResponseStream.MoveNext(cts.Token))
            {
                alerts.Add(call.ResponseStream.Current);
            }
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && wait is not null)
        {
        }
        return alerts;
    }

    [Fact]
    public async Task A_webhook_that_fails_its_first_three_deliveries_still_gets_every_alert_signed_and_in_order()
    {
        await using var server = await new EngineServer(settings: Settings()).StartAsync();
        var data = await ReplayAsync(server);
        var total = (await Population.HistoriesAsync(server, data.CustomerIds)).Values.Sum(h => h.Count);

        var port = FreePorts.Next();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/hook/");
        listener.Start();
        var received = new List<(string Body, string Signature)>();
        var calls = 0;
        var receiving = Task.Run(async () =>
        {
            while (received.Count < total)
            {
                var context = await listener.GetContextAsync();
                using var reader = new StreamReader(context.Request.InputStream);
                var body = await reader.ReadToEndAsync();
                // The first three deliveries fail.
                context.Response.StatusCode = ++calls <= 3 ? 500 : 200;
                if (context.Response.StatusCode == 200)
                {
                    received.Add((body, context.Request.Headers["X-Engine-Signature"]!));
                }
                context.Response.Close();
            }
        });

        var alerts = new AlertService.AlertServiceClient(server.Channel);
        var hook = await alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = $"http://127.0.0.1:{port}/hook/", Secret = "s3cret", FromStart = true });
        Assert.Contains(hook.Id, (await alerts.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks.Select(w => w.Id));
        await receiving.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(total + 3, calls);
        var cursors = new List<long>();
        foreach (var (body, signature) in received)
        {
            var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData("s3cret"u8.ToArray(), Encoding.UTF8.GetBytes(body)));
            Assert.Equal(expected, signature);
            cursors.Add(long.Parse(JsonDocument.Parse(body).RootElement.GetProperty("cursor").GetString()!));
        }
        Assert.Equal(cursors.Order(), cursors);
        Assert.Equal(total, cursors.Distinct().Count());
        Assert.Empty((await alerts.ListDeadLettersAsync(new ListDeadLettersRequest())).DeadLetters);

        await alerts.DeleteWebhookAsync(new DeleteWebhookRequest { Id = hook.Id });
        var missing = await Assert.ThrowsAsync<RpcException>(() => alerts.DeleteWebhookAsync(new DeleteWebhookRequest { Id = hook.Id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task A_receiver_down_for_20_seconds_pauses_its_webhook_and_then_gets_every_alert_once_in_order()
    {
        // Backoff capped at a second, so the test waits for the outage and not for the cap.
        var settings = Settings();
        settings["Engine:WebhookMaxBackoff"] = "00:00:01";
        await using var server = await new EngineServer(settings: settings).StartAsync();
        var total = await SegmentedAsync(server, customers: 40, seed: 44);

        await using var receiver = await Receiver.StartAsync(_ => 503);
        var alerts = new AlertService.AlertServiceClient(server.Channel);
        // No secret given: the server makes one and shows it once.
        var hook = await alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = receiver.Url, FromStart = true });
        Assert.StartsWith("whsec_", hook.Secret);
        Assert.Equal("", Assert.Single((await alerts.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks).Secret);
        // Paused between tries (a try at most every WebhookMaxBackoff): looked at until seen paused. Its lag counts every
        // alert in the log after it, the customers' RFM moves (which it does not ask for) too.
        long logged = 0;
        foreach (var kind in new[] { Engine.Api.V1.SegmentKind.Learned, Engine.Api.V1.SegmentKind.Rfm })
        {
            var matrix = await server.Segments.GetTransitionMatrixAsync(new GetTransitionMatrixRequest { Kind = kind });
            logged += matrix.Counts.Sum() + matrix.Entries.Sum();
        }
        Assert.True(logged > total);
        var paused = await Poll.UntilAsync(async () => Assert.Single((await alerts.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks),
            w => w.State == "paused" && w.Lag == logged);
        Assert.Equal(("paused", "HTTP 503", logged), (paused.State, paused.LastError, paused.Lag));
        await Task.Delay(TimeSpan.FromSeconds(10));
        receiver.Answer = _ => 200;

        await receiver.WaitForAsync(total, TimeSpan.FromSeconds(30));
        var cursors = receiver.Taken.Select(b => long.Parse(JsonDocument.Parse(b).RootElement.GetProperty("cursor").GetString()!)).ToList();
        Assert.Equal(total, cursors.Count);
        Assert.Equal(cursors.Order().Distinct(), cursors);
        Assert.True(receiver.Refused >= 10, $"{receiver.Refused} tries in 20 s of outage");

        // Standard Webhooks, as its specification has a receiver check it: base64 HMAC-SHA256, keyed by the secret's
        // base64 after whsec_, of "id.timestamp.body". One byte more in the body or the timestamp does not verify.
        var key = Convert.FromBase64String(hook.Secret["whsec_".Length..]);
        string Expected(string id, string timestamp, string body) =>
            "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}")));
        Assert.All(receiver.TakenRequests, r =>
        {
            Assert.Equal(Expected(r.Id, r.Timestamp, r.Body), r.Signature);
            Assert.InRange(long.Parse(r.Timestamp), DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            Assert.NotEqual(Expected(r.Id, r.Timestamp, r.Body + " "), r.Signature);
            Assert.NotEqual(Expected(r.Id, r.Timestamp + "0", r.Body), r.Signature);
        });
        Assert.Equal(total, receiver.TakenRequests.Select(r => r.Id).Distinct().Count());
        Assert.Empty((await alerts.ListDeadLettersAsync(new ListDeadLettersRequest())).DeadLetters);
        var active = await Poll.UntilAsync(async () => Assert.Single((await alerts.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks), w => w.Lag == 0);
        Assert.Equal(("active", ""), (active.State, active.LastError));
        Assert.NotNull(active.LastSuccessAt);
    }

    [Fact]
    public async Task Alerts_a_receiver_refuses_are_dead_lettered_and_redelivered_on_request_and_bad_requests_name_the_field()
    {
        await using var server = await new EngineServer(settings: Settings()).StartAsync();
        await SegmentedAsync(server, customers: 40, seed: 43);
        var alerts = new AlertService.AlertServiceClient(server.Channel);
        await using var receiver = await Receiver.StartAsync(_ => 400);
        var hook = await alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = receiver.Url, Secret = "x", FromStart = true });
        var letters = await Poll.UntilAsync(() => alerts.ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = hook.Id }).ResponseAsync,
            l => l.DeadLetters.Count == 40);
        Assert.All(letters.DeadLetters, d => Assert.Equal((5, "HTTP 400"), (d.Attempts, d.LastError)));
        Assert.Equal(200, receiver.Refused);

        // Fixed on the receiver's side: one redelivers them, in cursor order, and the list empties.
        receiver.Answer = _ => 200;
        var some = letters.DeadLetters.Take(3).Select(d => d.Cursor).ToList();
        var first = await alerts.RedeliverDeadLettersAsync(new RedeliverDeadLettersRequest { WebhookId = hook.Id, Cursors = { some } });
        Assert.Equal((3, 0), (first.Redelivered, first.Failed));
        var rest = await alerts.RedeliverDeadLettersAsync(new RedeliverDeadLettersRequest { WebhookId = hook.Id });
        Assert.Equal((37, 0), (rest.Redelivered, rest.Failed));
        Assert.Empty((await alerts.ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = hook.Id })).DeadLetters);
        // Each alert once: the three asked for, then the rest, each batch in cursor order.
        var cursors = receiver.Taken.Select(b => long.Parse(JsonDocument.Parse(b).RootElement.GetProperty("cursor").GetString()!)).ToList();
        var dead = letters.DeadLetters.Select(d => long.Parse(d.Cursor)).ToList();
        Assert.Equal(dead.Take(3).Order(), cursors.Take(3));
        Assert.Equal(dead.Skip(3).Order(), cursors.Skip(3));

        var badUrl = await Assert.ThrowsAsync<RpcException>(() => alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = "ftp://x", Secret = "x" }).ResponseAsync);
        Assert.StartsWith("url:", badUrl.Status.Detail);
        var noHook = await Assert.ThrowsAsync<RpcException>(() => alerts.RedeliverDeadLettersAsync(new RedeliverDeadLettersRequest { WebhookId = "nosuch" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, noHook.StatusCode);
        using var call = alerts.SubscribeMigrations(new SubscribeMigrationsRequest { ResumeAfter = "abc" });
        var badCursor = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.InvalidArgument, badCursor.StatusCode);
        Assert.StartsWith("resume_after:", badCursor.Status.Detail);
    }

    [Fact]
    public async Task Webhooks_post_in_their_format_in_batches_with_their_headers()
    {
        await using var server = await new EngineServer(settings: Settings()).StartAsync();
        var total = await SegmentedAsync(server, customers: 120, seed: 45);
        var names = (await server.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments.Select(s => s.Name).ToList();
        var alerts = new AlertService.AlertServiceClient(server.Channel);
        await using var batched = await Receiver.StartAsync(_ => 200);
        await using var slack = await Receiver.StartAsync(_ => 200);
        await using var braze = await Receiver.StartAsync(_ => 200);
        var engineHook = new CreateWebhookRequest { Url = batched.Url, FromStart = true, MaxBatch = 10, MaxWait = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(100)) };
        engineHook.Headers["Authorization"] = "Bearer t0ken";
        await alerts.CreateWebhookAsync(engineHook);
        await alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = slack.Url, FromStart = true, Format = "slack" });
        await alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = braze.Url, FromStart = true, Format = "braze_attributes" });

        // engine, batched: JSON arrays of at most 10, every alert once in cursor order, the header on every POST.
        await Poll.UntilAsync(() => Task.FromResult(batched.Taken.Sum(b => JsonDocument.Parse(b).RootElement.GetArrayLength())), n => n >= total);
        var arrays = batched.Taken.Select(b => JsonDocument.Parse(b).RootElement).ToList();
        Assert.All(arrays, a => Assert.InRange(a.GetArrayLength(), 1, 10));
        Assert.True(arrays.Count < total, $"{arrays.Count} POSTs for {total} alerts");
        var cursors = arrays.SelectMany(a => a.EnumerateArray().Select(x => long.Parse(x.GetProperty("cursor").GetString()!))).ToList();
        // Every learned move once, in cursor order (the customers' RFM moves, which this webhook does not ask for, sit between).
        Assert.Equal(total, cursors.Distinct().Count());
        Assert.Equal(cursors.Order(), cursors);
        Assert.All(arrays.SelectMany(a => a.EnumerateArray()), x => Assert.Equal("LEARNED", x.GetProperty("transition").GetProperty("kind").GetString()));
        Assert.All(batched.TakenRequests, r => Assert.Equal("Bearer t0ken", r.Authorization));
        var listed = (await alerts.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks.Single(w => w.Url == batched.Url);
        Assert.Equal(["Authorization"], listed.HeaderNames);
        Assert.DoesNotContain("t0ken", listed.ToString());

        // slack: {"text": ...}, a line per alert naming both segments.
        await slack.WaitForAsync(total, TimeSpan.FromSeconds(60));
        var texts = slack.Taken.Select(b => JsonDocument.Parse(b).RootElement).ToList();
        Assert.All(texts, t => Assert.Equal(["text"], t.EnumerateObject().Select(p => p.Name)));
        // The retrain made everyone's first assignment: from unassigned to a named segment.
        Assert.All(texts.Select(t => t.GetProperty("text").GetString()!), line =>
        {
            Assert.Matches(@"^Customer \S+ moved from unassigned to .+ \(seg-\d+\) \(RETRAIN\)$", line);
            Assert.Contains(names, n => line.Contains($"to {n} (seg-"));
        });

        // braze_attributes: at most 75 attribute objects a request, one per alert.
        await Poll.UntilAsync(() => Task.FromResult(braze.Taken.Sum(b => JsonDocument.Parse(b).RootElement.GetProperty("attributes").GetArrayLength())), n => n >= total);
        var attributes = braze.Taken.Select(b => JsonDocument.Parse(b).RootElement.GetProperty("attributes")).ToList();
        Assert.All(attributes, a => Assert.InRange(a.GetArrayLength(), 1, 75));
        Assert.Equal(total, attributes.Sum(a => a.GetArrayLength()));
        Assert.All(attributes.SelectMany(a => a.EnumerateArray()), x => Assert.Contains(x.GetProperty("engine_segment").GetString(), names));

        var bad = await Assert.ThrowsAsync<RpcException>(() => alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = braze.Url, Format = "braze_attributes", MaxBatch = 76 }).ResponseAsync);
        Assert.StartsWith("max_batch:", bad.Status.Detail);
    }

    [Fact]
    public async Task A_webhook_filtered_by_a_segments_name_follows_it_through_a_rename_and_retrains()
    {
        await using var server = await new EngineServer(settings: Settings()).StartAsync();
        await SegmentedAsync(server, customers: 120, seed: 46);
        var target = (await server.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments.MaxBy(s => s.Size)!;
        var alerts = new AlertService.AlertServiceClient(server.Channel);
        await using var receiver = await Receiver.StartAsync(_ => 200);
        var byName = new CreateWebhookRequest { Url = receiver.Url, FromStart = true, Filter = new AlertFilter { ToSegmentIds = { target.Name.ToUpperInvariant() } } };
        await alerts.CreateWebhookAsync(byName);
        await alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = receiver.Url, Filter = new AlertFilter { ToSegmentIds = { "Nobody" } } });
        // A webhook of RFM moves only, naming the segment's name: a learned segment's rename is none of its business.
        var rfmOnly = await alerts.CreateWebhookAsync(new CreateWebhookRequest
        {
            Url = receiver.Url, Filter = new AlertFilter { ToSegmentIds = { target.Name }, Kinds = { Engine.Api.V1.SegmentKind.Rfm } },
        });
        // The first assignments into the segment, found by its name in any case.
        await receiver.WaitForAsync((int)target.Size, TimeSpan.FromSeconds(60));
        Assert.Equal(target.Size, receiver.Taken.Count);

        // A rename moves the filter with the segment; a filter naming no segment says so.
        await server.Models.RenameSegmentAsync(new RenameSegmentRequest { SegmentId = target.SegmentId, Name = "Our best" });
        var hooks = (await alerts.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks;
        var renamed = hooks.Single(w => w.Filter.ToSegmentIds.Contains("Our best"));
        Assert.Empty(renamed.UnmatchedSegments);
        Assert.Equal([target.Name], hooks.Single(w => w.Id == rfmOnly.Id).Filter.ToSegmentIds);
        hooks.Remove(hooks.Single(w => w.Id == rfmOnly.Id));
        await alerts.DeleteWebhookAsync(new DeleteWebhookRequest { Id = rfmOnly.Id });
        Assert.Equal(["Nobody"], hooks.Single(w => w != renamed).UnmatchedSegments);
        using (var warned = alerts.SubscribeMigrations(new SubscribeMigrationsRequest { ToSegmentIds = { "Nobody", "our BEST" }, LiveOnly = true }))
        {
            Assert.Equal("no segment of the current model has the id or name 'Nobody'", (await warned.ResponseHeadersAsync).GetValue("engine-warning"));
        }

        // Retrains with automatic k and with another k: the webhook gets exactly the moves into a segment named as
        // its filter said when each move happened.
        await server.Models.RetrainAsync(new RetrainRequest { K = 0 });
        await server.Models.RetrainAsync(new RetrainRequest { K = 4 });
        // The log's head: where a webhook is, plus its lag (which counts every alert after it, matching or not).
        var now = (await alerts.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks.Single(w => w.Id == renamed.Id);
        var head = long.Parse(now.DeliveredAfter) + now.Lag;
        var all = new List<MigrationAlert>();
        using (var call = alerts.SubscribeMigrations(new SubscribeMigrationsRequest()))
        {
            while ((all.Count == 0 || long.Parse(all[^1].Cursor) < head) && await call.ResponseStream.MoveNext())
            {
                all.Add(call.ResponseStream.Current);
            }
        }
        var expected = all.Where(a => a.Transition.ToSegmentName.Equals(target.Name, StringComparison.OrdinalIgnoreCase) || a.Transition.ToSegmentName == "Our best")
            .Select(a => a.Cursor).ToList();
        await receiver.WaitForAsync(expected.Count, TimeSpan.FromSeconds(60));
        Assert.Equal(expected, receiver.Taken.Select(b => JsonDocument.Parse(b).RootElement.GetProperty("cursor").GetString()));
        Assert.All(all, a => Assert.NotEqual("", a.Transition.ToSegmentName));

        // Ids a retrain to fewer segments retires: a webhook filtered on them is told that nothing matches them.
        var before = (await server.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments.Select(x => x.SegmentId).ToList();
        var byId = await alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = receiver.Url, Filter = new AlertFilter { ToSegmentIds = { before } } });
        await server.Models.RetrainAsync(new RetrainRequest { K = 2 });
        var after = (await server.Segments.ListSegmentsAsync(new ListSegmentsRequest())).Segments.Select(x => x.SegmentId).ToList();
        var retired = before.Except(after).ToList();
        Assert.InRange(retired.Count, 2, before.Count);
        Assert.Equal(retired, (await alerts.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks.Single(w => w.Id == byId.Id).UnmatchedSegments);
    }


    /// <summary>A webhook receiver on a free port that answers each POST with the status <see cref="Answer"/> gives.</summary>
    private sealed class Receiver : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;
        private readonly List<(string Body, string Id, string Timestamp, string Signature, string? Authorization)> _taken = [];

        private Receiver(int port, Func<string, int> answer)
        {
            Url = $"http://127.0.0.1:{port}/hook/";
            Answer = answer;
            _listener.Prefixes.Add(Url);
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public string Url { get; }
        public Func<string, int> Answer { get; set; }
        public int Refused { get; private set; }

        /// <summary>The bodies answered 2xx, in arrival order.</summary>
        public IReadOnlyList<string> Taken => [.. TakenRequests.Select(t => t.Body)];

        /// <summary>The requests answered 2xx with their Standard Webhooks headers, in arrival order.</summary>
        public IReadOnlyList<(string Body, string Id, string Timestamp, string Signature, string? Authorization)> TakenRequests
        {
            get
            {
                lock (_taken)
                {
                    return [.. _taken];
                }
            }
        }

        public static Task<Receiver> StartAsync(Func<string, int> answer) => Task.FromResult(new Receiver(FreePorts.Next(), answer));

        public async Task WaitForAsync(int count, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (Taken.Count < count && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }
                try
                {
                    await AnswerAsync(context);
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return; // stopped while answering: the test is over
                }
            }
        }

        private async Task AnswerAsync(HttpListenerContext context)
        {
            using var reader = new StreamReader(context.Request.InputStream);
            var body = await reader.ReadToEndAsync();
            var status = Answer(body);
            context.Response.StatusCode = status;
            if (status is >= 200 and < 300)
            {
                lock (_taken)
                {
                    var h = context.Request.Headers;
                    _taken.Add((body, h["webhook-id"]!, h["webhook-timestamp"]!, h["webhook-signature"]!, h["Authorization"]));
                }
            }
            else
            {
                Refused++;
            }
            context.Response.Close();
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await _loop;
            try
            {
                _listener.Close();
            }
            catch (ArgumentNullException)
            {
                // HttpListener's own race when closing after Stop (seen in CI): the listener is stopped, which is all a test needs.
            }
        }
    }
}
