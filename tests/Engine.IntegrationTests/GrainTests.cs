using Engine.Core;
using Engine.Abstractions;
using Engine.Grains;
using Engine.Server.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.TestingHost;

namespace Engine.IntegrationTests;

/// <summary>
/// Grain-level tests on an in-process Orleans cluster with the real SQLite storage: the coordinator's distributed
/// k-means over shard grains, and customer grains replaying the log.
/// </summary>
[Trait("Category", "Integration")]
public sealed class GrainTests : IAsyncLifetime
{
    private readonly string _data = TempDirectory.Create();
    private InProcessTestCluster _cluster = null!;
    // Set by a test: the silo refuses shard row upserts, as a shard on a silo that is going down would.
    private volatile bool _refuseShardUpserts;
    // Set by a test: the silo refuses this customer's sweep call.
    private volatile string? _refuseSweepOf;
    // Set by a test: these customers' sweep calls run, then their answers are lost (as a timeout after the work would).
    private volatile HashSet<string>? _loseSweepAnswersOf;
    // Set by a test: the silo refuses every apply and recovery call of this customer (a checkpoint it cannot read, say).
    private volatile string? _refuseCustomer;
    // Set by a test: this customer's next grain-state write fails (once).
    private string? _failWriteOf;
    private readonly Lock _failWriteGate = new();
    // Set by a test: each look a rollout takes at its shard waits until the test lets it go (see the test).
    private volatile System.Threading.Channels.Channel<TaskCompletionSource>? _heldRolloutLooks;
    // Set by a test: customers whose ids start with it refuse every reassignment (a retrain's rollout).
    private volatile string? _refuseReassignPrefix;
    private int _reassignCalls;
    private int _rolloutLooks;
    // The times the shards were asked to sweep up to.
    private readonly System.Collections.Concurrent.ConcurrentQueue<DateTime> _shardSweeps = new();

    public async Task InitializeAsync()
    {
        var options = new EngineOptions { DataDirectory = _data, Clock = ClockMode.EventTime, Shards = 4 };
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddEngineStorage(options);
            // The engine's grain storage (as AddEngineStorage builds it) behind a proxy that can fail one customer's write.
            silo.Services.AddKeyedSingleton<Orleans.Storage.IGrainStorage>(StorageNames.Engine, (sp, _) => new FailingWrites(
                Engine.Server.Hosting.SiloBuilderExtensions.SqliteGrainStorage(sp, sp.GetRequiredService<Engine.Storage.SqliteDatabase>().OrleansConnectionString),
                FailThisWrite));
            // The real log behind a proxy that can lose an append's answer after its commit.
            silo.Services.AddSingleton<Engine.Storage.SqliteEventLog>();
            silo.Services.AddSingleton(sp => FaultyLog.Wrap(sp.GetRequiredService<Engine.Storage.SqliteEventLog>()));
            silo.AddIncomingGrainCallFilter(async call =>
            {
                if (call.InterfaceMethod.DeclaringType == typeof(IShardSweep) && call.InterfaceMethod.Name == nameof(IShardSweep.SweepAsync))
                {
                    _shardSweeps.Enqueue((DateTime)call.Request.GetArgument(0)!);
                }
                if (_refuseShardUpserts && call.InterfaceMethod.Name == nameof(IShardGrain.UpsertAsync))
                {
                    throw new InvalidOperationException("Shard upsert refused (test fault).");
                }
                if (call.InterfaceMethod.DeclaringType == typeof(ICustomerGrain) && call.TargetId.Key.ToString() == _refuseCustomer
                    && call.InterfaceMethod.Name is nameof(ICustomerGrain.ApplyAsync) or nameof(ICustomerGrain.RecoverAsync))
                {
                    throw new InvalidOperationException("Customer refused (test fault).");
                }
                if (call.InterfaceMethod.Name == nameof(ICustomerGrain.SweepAsync) && call.TargetId.Key.ToString() == _refuseSweepOf)
                {
                    throw new InvalidOperationException("Sweep refused (test fault).");
                }
                if (call.InterfaceMethod.Name == nameof(ICustomerGrain.ReassignAsync))
                {
                    Interlocked.Increment(ref _reassignCalls);
                    if (_refuseReassignPrefix is { } prefix && call.TargetId.Key.ToString()!.StartsWith(prefix, StringComparison.Ordinal))
                    {
                        throw new InvalidOperationException("Reassign refused (test fault).");
                    }
                }
                await call.Invoke();
                if (call.InterfaceMethod.Name == nameof(ICustomerGrain.SweepAsync) && _loseSweepAnswersOf?.Contains(call.TargetId.Key.ToString()!) == true)
                {
                    throw new TimeoutException("Sweep answer lost after the sweep ran (test fault).");
                }
            });
            // On the caller's side, so holding it holds the rollout and not the shard, which ingest needs meanwhile.
            silo.AddOutgoingGrainCallFilter(async call =>
            {
                if (call.InterfaceMethod.Name == nameof(IShardGrain.GetRolloutReachAsync))
                {
                    Interlocked.Increment(ref _rolloutLooks);
                    if (_heldRolloutLooks is { } held)
                    {
                        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        await held.Writer.WriteAsync(go);
                        await go.Task;
                    }
                }
                await call.Invoke();
            });
        });
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Services.Configure<EngineOptions>(o =>
            {
                o.DataDirectory = options.DataDirectory;
                o.Clock = options.Clock;
                o.Shards = options.Shards;
            });
            host.Services.Configure<ModelOptions>(o => o.AutoTrainMinCustomers = int.MaxValue);
            // Checkpoints only when a test asks: the shard-crash test rewrites a shard's checkpoint behind its back.
            host.Services.Configure<IngestOptions>(o => o.CheckpointInterval = TimeSpan.FromHours(1));
            host.Services.AddEngineServices();
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync();
        var pipeline = _cluster.GetSiloServiceProvider().GetRequiredService<IngestPipeline>();
        await pipeline.Ready;
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private bool FailThisWrite(string grainKey)
    {
        lock (_failWriteGate)
        {
            if (_failWriteOf != grainKey)
            {
                return false;
            }
            _failWriteOf = null;
            return true;
        }
    }

    [Fact]
    public async Task Distributed_kmeans_over_shards_finds_well_separated_groups()
    {
        var client = _cluster.Client;
        var asOf = new DateTime(1998, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        // Three groups of rows that differ in frequency and monetary by orders of magnitude.
        // (Standardising gives every feature unit variance, so noise that is not tied to a group would weigh as
        // much as the groups themselves; here every feature that varies separates the groups.)
        var groups = new (float Recency, float Frequency, float Monetary)[] { (300, 1, 10), (60, 20, 2_000), (5, 200, 100_000) };
        var rng = new Random(5);
        var rowsPerShard = new Dictionary<int, List<ShardRow>>();
        var router = _cluster.GetSiloServiceProvider().GetRequiredService<ShardRouter>();
        for (var i = 0; i < 600; i++)
        {
            var g = groups[i % 3];
            var raw = new float[Engine.Core.FeatureNames.Count];
            raw[0] = g.Recency * (0.9f + 0.2f * rng.NextSingle());   // recency_days
            raw[1] = g.Frequency * (0.9f + 0.2f * rng.NextSingle()); // frequency
            raw[2] = g.Monetary * (0.9f + 0.2f * rng.NextSingle());  // monetary
            raw[3] = raw[2] / raw[1];                               // avg_order_value
            raw[4] = 400;                                           // tenure_days
            var id = $"g{i % 3}-{i}";
            var shard = router.ShardOf(id);
            (rowsPerShard.TryGetValue(shard, out var list) ? list : rowsPerShard[shard] = []).Add(new ShardRow(id, raw, asOf, ModelSnapshot.Unassigned));
        }
        foreach (var (shard, rows) in rowsPerShard)
        {
            await client.GetGrain<IShardGrain>(shard).UpsertAsync(rows.ToArray());
        }

        var outcome = await client.GetGrain<ISegmentCoordinatorGrain>(0).RetrainAsync(3, "manual");

        Assert.Equal(1, outcome.Model.Version);
        Assert.Equal(600, outcome.Model.Customers);
        Assert.Equal(3, outcome.Model.Names.Distinct().Count());
        // Each true group's rows sit nearest to one centroid, a different one per group.
        var centroids = ModelMath.CentroidsInOriginalUnits(outcome.Model);
        var frequencies = centroids.Select(c => c[1]).Order().ToArray();
        Assert.InRange(frequencies[0], 0.8, 1.2);
        Assert.InRange(frequencies[1], 17, 23);
        Assert.InRange(frequencies[2], 170, 230);
        var counts = new Dictionary<string, long>();
        foreach (var shard in rowsPerShard.Keys)
        {
            foreach (var (segment, n) in (await client.GetGrain<IShardGrain>(shard).GetCountsAsync()).Counts)
            {
                counts[segment] = counts.GetValueOrDefault(segment) + n;
            }
        }
        // These rows have no customer grain behind them, so shards keep them unassigned; the model still fits them.
        Assert.Equal(600, counts.Values.Sum());

        // The population moves (everyone's spend × 1000, recency × 5): the retrain re-scales, and every segment is used.
        foreach (var (shard, rows) in rowsPerShard)
        {
            var moved = rows.Select(r =>
            {
                var raw = (float[])r.Raw.Clone();
                raw[0] *= 5;
                raw[2] *= 1000;
                raw[3] *= 1000;
                return r with { Raw = raw };
            }).ToArray();
            await client.GetGrain<IShardGrain>(shard).UpsertAsync(moved);
        }
        var coordinator = client.GetGrain<ISegmentCoordinatorGrain>(0);
        var again = await coordinator.RetrainAsync(3, "manual");
        Assert.All(again.Model.Baseline!.SegmentShares, share => Assert.InRange(share, 0.2, 0.5));

        // The replaced model is kept, for replays of events logged under it (without its drift baseline).
        var kept = (await coordinator.GetModelAsync(1))!;
        Assert.Equal(outcome.Model.Centroids, kept.Centroids);
        Assert.Equal(outcome.Model.ScalerMean, kept.ScalerMean);
        Assert.Equal(outcome.Model.SegmentIds, kept.SegmentIds);
        Assert.Null(kept.Baseline);
        Assert.Equal(2, (await coordinator.GetModelAsync(2))!.Version);
        Assert.Null(await coordinator.GetModelAsync(3));
    }

    [Fact]
    public async Task Automatic_k_chooses_five_for_five_well_separated_groups_by_silhouette()
    {
        var client = _cluster.Client;
        var router = _cluster.GetSiloServiceProvider().GetRequiredService<ShardRouter>();
        var asOf = new DateTime(1998, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        // Five groups far apart on every feature that varies (recency, frequency, monetary, tickets), with a small
        // fifth group: a stratified silhouette sample must still see it.
        var groups = new (float Recency, float Frequency, float Monetary, float Tickets, int Size)[]
        {
            (400, 1, 10, 0, 300), (200, 5, 300, 6, 300), (60, 20, 3_000, 0, 300), (5, 150, 80_000, 0, 300), (30, 2, 40, 30, 40),
        };
        var rng = new Random(8);
        var perShard = new Dictionary<int, List<ShardRow>>();
        var n = 0;
        foreach (var g in groups)
        {
            for (var i = 0; i < g.Size; i++)
            {
                var raw = new float[Engine.Core.FeatureNames.Count];
                float Jitter() => 0.95f + 0.1f * rng.NextSingle();
                raw[0] = g.Recency * Jitter();
                raw[1] = g.Frequency * Jitter();
                raw[2] = g.Monetary * Jitter();
                raw[3] = raw[2] / raw[1];
                raw[4] = 500;
                raw[8] = g.Tickets * Jitter();
                var id = $"five-{n++}";
                var shard = router.ShardOf(id);
                (perShard.TryGetValue(shard, out var list) ? list : perShard[shard] = []).Add(new ShardRow(id, raw, asOf, ModelSnapshot.Unassigned));
            }
        }
        foreach (var (shard, rows) in perShard)
        {
            await client.GetGrain<IShardGrain>(shard).UpsertAsync(rows.ToArray());
        }

        var outcome = await client.GetGrain<ISegmentCoordinatorGrain>(0).RetrainAsync(0, "manual");

        Assert.Equal(5, outcome.Model.K);
        Assert.Equal(Enumerable.Range(3, 8), outcome.Candidates.Select(c => c.K));
        var chosen = outcome.Candidates.Single(c => c.K == 5);
        Assert.Equal(outcome.Candidates.Max(c => c.Silhouette), chosen.Silhouette);
        Assert.True(chosen.Silhouette > 0.7, $"silhouette {chosen.Silhouette}");
        // The sample is stratified: at most SilhouettePerCluster rows a cluster, and the small group is all in.
        Assert.InRange(chosen.SampleSize, 4 * 40, 5 * 250);
        // Inertia falls as k grows (the elbow table is reported for every k).
        Assert.True(outcome.Candidates.First().Inertia > chosen.Inertia);
    }

    [Fact]
    public async Task The_benchmark_fit_over_loaded_shards_matches_the_single_process_reference()
    {
        // Six blobs in 4 dimensions, split across the shards like `engine bench kmeans` does.
        var rng = new Random(4);
        const int d = 4, n = 6000;
        var data = new float[n * d];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < d; j++)
            {
                data[i * d + j] = (i % 6) * 10 + (j == 0 ? 5 * (i % 2) : 0) + (float)rng.NextDouble();
            }
        }
        var shards = _cluster.GetSiloServiceProvider().GetRequiredService<ShardRouter>().Shards;
        var per = n / shards;
        for (var s = 0; s < shards; s++)
        {
            await _cluster.Client.GetGrain<IShardTrainingLoader>(s).LoadTrainingAsync(data[(s * per * d)..((s + 1) * per * d)], d);
        }

        IShardTraining[] trainers = [.. Enumerable.Range(0, shards).Select(s => _cluster.Client.GetGrain<IShardGrain>(s))];
        var fit = await ShardedKMeans.FitLoadedAsync(trainers, 6, d, seed: 3,
            _cluster.GetSiloServiceProvider().GetRequiredService<IOptions<ModelOptions>>().Value);
        var reference = Engine.Core.KMeansMath.Fit(data, d, 6, 300, 1e-4, seed: 3);

        Assert.Equal(n, fit.Rows);
        var inertia = Engine.Core.KMeansMath.AccumulateAssign(data, d, fit.Centroids, 6, new double[6 * d], new long[6], []);
        // Well-separated blobs: both find the same optimum, the blobs' own spread (uniform noise, variance 1/12 a feature).
        Assert.InRange(inertia, reference.Inertia * 0.99, reference.Inertia * 1.01);
        Assert.InRange(inertia, n * d / 12.0 * 0.9, n * d / 12.0 * 1.1);
    }

    [Fact]
    public async Task A_customer_grain_replays_the_log_after_its_checkpoint_on_activation()
    {
        var log = _cluster.GetSiloServiceProvider().GetRequiredService<Engine.Storage.IEventLog>();
        var at = new DateTime(1997, 5, 1, 0, 0, 0, DateTimeKind.Utc);
        var events = Enumerable.Range(0, 5).Select(i => new Engine.Storage.PendingEvent($"replay-{i}", "replayer", EventKind.Purchase, at.AddDays(i), 10 + i, "x", null)).ToArray();
        var seqs = (await log.AppendAsync(events, at.AddDays(4), 0)).Seqs;
        Assert.All(seqs, s => Assert.True(s > 0));

        // The events are only in the log: activation must find them.
        var view = await _cluster.Client.GetGrain<ICustomerGrain>("replayer").GetAsync();
        Assert.NotNull(view);
        Assert.Equal(5, view.Frequency);
        Assert.Equal(60, view.Monetary, 1e-9);

        // Applying the same logged events again is a no-op: the log position makes it idempotent.
        var logged = events.Select((e, i) => new LoggedEvent(seqs[i], e.EventId, e.CustomerId, e.Kind, e.OccurredAt, e.Amount, e.Category, at.AddDays(4), 0)).ToArray();
        var result = await _cluster.Client.GetGrain<ICustomerGrain>("replayer").ApplyAsync(new(logged, 0, seqs.Max()));
        Assert.Equal(0, result.Applied);
        Assert.Equal(5, (await _cluster.Client.GetGrain<ICustomerGrain>("replayer").GetAsync())!.Frequency);
    }

    /// <summary>
    /// A model of segments s1 (centroid at the origin) and s2 (all ones) reaches this silo's replica, as a retrain's
    /// publication would; <paramref name="swapped"/> puts each segment at the other's centroid.
    /// </summary>
    private void OfferTwoSegmentModel(DateTime at, long version = 1, bool swapped = false)
    {
        var d = Engine.Core.FeatureNames.Count;
        float[] origin = new float[d], ones = Enumerable.Repeat(1f, d).ToArray();
        _cluster.GetSiloServiceProvider().GetRequiredService<ModelReplica>().Offer(new ModelSnapshot(version, 2, d,
            swapped ? [.. ones, .. origin] : [.. origin, .. ones], new double[d], Enumerable.Repeat(1.0, d).ToArray(), ["s1", "s2"],
            ["One", "Two"], at, 1, 0, 1, "test"));
    }

    [Fact]
    public async Task A_recovery_hands_over_again_the_transitions_a_checkpoint_holds_that_may_not_be_logged()
    {
        var at = new DateTime(1997, 11, 1, 0, 0, 0, DateTimeKind.Utc);
        OfferTwoSegmentModel(at);
        var grain = _cluster.Client.GetGrain<ICustomerGrain>("handed");
        var e = await AppendAsync("handed", 0, at, model: 1);
        // The caller this transition went to died before logging it (here: no one logs it); the checkpoint holds it.
        var moved = Assert.Single((await grain.ApplyAsync(new([e], 0, e.LogPosition))).Transitions);
        await grain.CheckpointAsync();

        var again = Assert.Single((await grain.RecoverAsync()).Transitions);
        Assert.Equal((moved.Number, moved.FromSegmentId, moved.ToSegmentId), (again.Number, again.FromSegmentId, again.ToSegmentId));
    }

    /// <summary>
    /// Appends a customer's i-th purchase (dated i days after <paramref name="at"/>) to the silo's log, logged with
    /// <paramref name="model"/> as the ingest pipeline would with the model it had.
    /// </summary>
    private async Task<LoggedEvent> AppendAsync(string customer, int i, DateTime at, long model = 0)
    {
        var log = _cluster.GetSiloServiceProvider().GetRequiredService<Engine.Storage.IEventLog>();
        var e = new Engine.Storage.PendingEvent($"{customer}-{i}", customer, EventKind.Purchase, at.AddDays(i), 10, "x", null);
        var seq = (await log.AppendAsync([e], at.AddDays(i), model)).Seqs[0];
        return new LoggedEvent(seq, e.EventId, e.CustomerId, e.Kind, e.OccurredAt, e.Amount, e.Category, at.AddDays(i), model);
    }

    [Fact]
    public async Task A_delivery_that_cannot_vouch_for_events_another_silo_appended_makes_the_grain_read_its_log()
    {
        var grain = _cluster.Client.GetGrain<ICustomerGrain>("interleaved");
        var at = new DateTime(1997, 6, 1, 0, 0, 0, DateTimeKind.Utc);
        Task<LoggedEvent> Append(int i) => AppendAsync("interleaved", i, at);

        var first = await Append(0);
        await grain.ApplyAsync(new([first], 0, first.LogPosition));
        // "Silo B" appends the second event; "silo A" appends the third and delivers only it, promising nothing before it.
        var second = await Append(1);
        var third = await Append(2);
        var result = await grain.ApplyAsync(new([third], third.LogPosition - 1, third.LogPosition));
        Assert.Equal(2, result.Applied);
        Assert.Equal(3, (await grain.GetAsync())!.Frequency);

        // Silo B's delivery arrives late: already applied, so nothing changes.
        Assert.Equal(0, (await grain.ApplyAsync(new([second], first.LogPosition, second.LogPosition))).Applied);
        Assert.Equal(3, (await grain.GetAsync())!.Frequency);
    }

    [Fact]
    public async Task A_shard_whose_holder_died_asks_its_customers_for_the_rows_its_checkpoint_lacks()
    {
        var services = _cluster.GetSiloServiceProvider();
        var pipeline = services.GetRequiredService<IngestPipeline>();
        var router = services.GetRequiredService<ShardRouter>();
        var storage = services.GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(StorageNames.Engine);
        var shard = _cluster.Client.GetGrain<IShardGrain>(0);
        var at = new DateTime(1997, 7, 1, 0, 0, 0, DateTimeKind.Utc);
        Engine.Storage.PendingEvent[] Events(string prefix) =>
            Enumerable.Range(0, 40).Select(i => new Engine.Storage.PendingEvent($"{prefix}-e{i}", $"{prefix}{i}", EventKind.Purchase, at, 10, "x", null)).ToArray();
        int OnShard0(string prefix) => Enumerable.Range(0, 40).Count(i => router.ShardOf($"{prefix}{i}") == 0);

        await pipeline.SubmitAsync(Events("before"), default);
        await pipeline.CheckpointAsync();
        var stateId = shard.GetGrainId();
        var taken = new GrainState<ShardState>();
        await storage.ReadStateAsync("shard", stateId, taken);
        Assert.True(taken.State!.Open);

        // Rows taken after that checkpoint live only in the shard's memory...
        await pipeline.SubmitAsync(Events("after"), default);
        Assert.Equal(OnShard0("before") + OnShard0("after"), await shard.GetSizeAsync());

        // ...and die with it: put back the checkpoint a crashed holder would have left (still open).
        await shard.AsReference<Orleans.Core.Internal.IGrainManagementExtension>().DeactivateOnIdle();
        var current = new GrainState<ShardState>();
        for (var tries = 0; ; tries++)
        {
            await storage.ReadStateAsync("shard", stateId, current);
            if (!current.State!.Open)
            {
                break;
            }
            Assert.True(tries < 100, "the shard did not close");
            await Task.Delay(50);
        }
        current.State = taken.State;
        await storage.WriteStateAsync("shard", stateId, current);

        // The repair runs after activation, a chunk per timer turn: the shard answers meanwhile.
        var expected = OnShard0("before") + OnShard0("after");
        for (var tries = 0; await shard.GetSizeAsync() < expected; tries++)
        {
            Assert.True(tries < 100, "the shard did not get its lost rows back");
            await Task.Delay(50);
        }
        Assert.Equal(expected, await shard.GetSizeAsync());
        var counts = await shard.GetCountsAsync();
        Assert.Equal(OnShard0("before") + OnShard0("after"), counts.Counts.Values.Sum());
    }

    [Fact]
    public async Task A_batch_whose_commit_answer_was_lost_still_reaches_its_customers()
    {
        var services = _cluster.GetSiloServiceProvider();
        var pipeline = services.GetRequiredService<IngestPipeline>();
        var log = (FaultyLog)services.GetRequiredService<Engine.Storage.IEventLog>();
        var at = new DateTime(1997, 8, 1, 0, 0, 0, DateTimeKind.Utc);
        Engine.Storage.PendingEvent E(int i) => new($"lost-{i}", "lost", EventKind.Purchase, at.AddDays(i), 10, "x", null);

        await pipeline.SubmitAsync([E(0)], default);
        log.LoseNextAppendAnswer();
        await Assert.ThrowsAsync<IOException>(() => pipeline.SubmitAsync([E(1), E(2)], default));

        // The client retries: the events are already in the log, so they come back as duplicates...
        var retry = await pipeline.SubmitAsync([E(1), E(2)], default);
        Assert.Equal((0, 2), (retry.Accepted, retry.Duplicates));
        // ...and the live grain has them all the same.
        Assert.Equal(3, (await _cluster.Client.GetGrain<ICustomerGrain>("lost").GetAsync())!.Frequency);
    }

    [Fact]
    public async Task A_batch_whose_shard_rows_failed_to_publish_is_failed_and_its_customers_are_published_again()
    {
        var services = _cluster.GetSiloServiceProvider();
        var pipeline = services.GetRequiredService<IngestPipeline>();
        var router = services.GetRequiredService<ShardRouter>();
        var at = new DateTime(1997, 9, 1, 0, 0, 0, DateTimeKind.Utc);
        Engine.Storage.PendingEvent[] Events(string prefix, int n) =>
            Enumerable.Range(0, n).Select(i => new Engine.Storage.PendingEvent($"{prefix}-e{i}", $"{prefix}{i}", EventKind.Purchase, at, 10, "x", null)).ToArray();
        async Task<int> Rows() =>
            (await Task.WhenAll(Enumerable.Range(0, router.Shards).Select(i => _cluster.Client.GetGrain<IShardGrain>(i).GetSizeAsync()))).Sum();

        await pipeline.SubmitAsync(Events("first", 10), default);
        Assert.Equal(10, await Rows());

        _refuseShardUpserts = true;
        var failed = Events("unpublished", 20);
        await Assert.ThrowsAsync<EventsNotAppliedException>(() => pipeline.SubmitAsync(failed, default));
        Assert.Equal(10, await Rows());
        _refuseShardUpserts = false;

        // The next batch, whoever it is for, publishes the lagging customers first.
        await pipeline.SubmitAsync(Events("next", 1), default);
        Assert.Equal(31, await Rows());
        // The events were durable all along: the client's retry finds them applied, once.
        var retry = await pipeline.SubmitAsync(failed, default);
        Assert.Equal((0, 20), (retry.Accepted, retry.Duplicates));
        foreach (var e in failed)
        {
            Assert.Equal(1, (await _cluster.Client.GetGrain<ICustomerGrain>(e.CustomerId).GetAsync())!.Frequency);
        }
    }

    [Fact]
    public async Task A_customer_that_keeps_failing_fails_its_own_batch_and_not_the_batches_after_it()
    {
        var pipeline = _cluster.GetSiloServiceProvider().GetRequiredService<IngestPipeline>();
        var at = new DateTime(1997, 9, 2, 0, 0, 0, DateTimeKind.Utc);
        Engine.Storage.PendingEvent Purchase(string customer) => new($"{customer}-e", customer, EventKind.Purchase, at, 10, "x", null);

        _refuseCustomer = "stuck";
        var failed = await Assert.ThrowsAsync<EventsNotAppliedException>(() => pipeline.SubmitAsync([Purchase("stuck"), Purchase("beside")], default));
        Assert.Contains("1 customers", failed.Message);
        // Later batches call it again, and it fails again, but their own customers applied: they are acknowledged.
        Assert.Equal(1, (await pipeline.SubmitAsync([Purchase("after-1")], default)).Accepted);
        Assert.Equal(1, (await pipeline.SubmitAsync([Purchase("after-2")], default)).Accepted);
        // A batch that brings it an event is its own again.
        await Assert.ThrowsAsync<EventsNotAppliedException>(() => pipeline.SubmitAsync(
            [new("stuck-e2", "stuck", EventKind.Purchase, at.AddDays(1), 10, "x", null), Purchase("beside-2")], default));

        // Once it can, it catches up from the log with the next batch.
        _refuseCustomer = null;
        await pipeline.SubmitAsync([Purchase("after-3")], default);
        Assert.Equal(2, (await _cluster.Client.GetGrain<ICustomerGrain>("stuck").GetAsync())!.Frequency);
    }

    /// <summary>
    /// 200 customers <paramref name="prefix"/>0..199 with 1-5 purchases of 10-510 spread over the year from
    /// <paramref name="at"/>, then a k=3 model trained on them and rolled out.
    /// </summary>
    private async Task<ModelSnapshot> AYearOfPurchasesThenTrainAsync(string prefix, DateTime at, int seed)
    {
        var rng = new Random(seed);
        var events = Enumerable.Range(0, 200).SelectMany(c => Enumerable.Range(0, 1 + c % 5).Select(k =>
                new Engine.Storage.PendingEvent($"{prefix}{c}-{k}", $"{prefix}{c}", EventKind.Purchase, at.AddDays(rng.Next(0, 365)), 10 + rng.Next(0, 500), "x", null)))
            .OrderBy(e => e.OccurredAt).ToArray();
        await _cluster.GetSiloServiceProvider().GetRequiredService<IngestPipeline>().SubmitAsync(events, default);
        return (await _cluster.Client.GetGrain<ISegmentCoordinatorGrain>(0).RetrainAsync(3, "manual")).Model;
    }

    [Fact]
    public async Task A_rollout_asks_the_customers_whose_rfm_segment_a_models_new_cut_points_move_though_their_learned_segment_stays()
    {
        var at = new DateTime(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var model = await AYearOfPurchasesThenTrainAsync("rc", at, seed: 12);
        // The same centroids and ids (no learned move), recency cut points twice as long.
        var next = model with { Version = model.Version + 1, Rfm = model.Rfm! with { RecencyDays = [.. model.Rfm.RecencyDays.Select(c => c * 2)] } };
        var expected = new List<string>();
        foreach (var c in CustomersOf(2, "rc"))
        {
            var v = (await _cluster.Client.GetGrain<ICustomerGrain>(c).GetAsync())!;
            var rfm = new Rfm(v.RecencyDays, v.Frequency, v.Monetary);
            if (RfmRules.SegmentOf(model.Rfm, rfm) != RfmRules.SegmentOf(next.Rfm, rfm))
            {
                expected.Add(c);
            }
        }
        var shard = _cluster.Client.GetGrain<IShardGrain>(2);
        var candidates = await shard.GetCandidatesAsync(next);
        await shard.EndRolloutAsync(next.Version);
        Assert.True(expected.Count > 5, $"{expected.Count} customers change RFM segment: the test shows too little");
        Assert.Equal(expected.Order(), candidates.Order());
    }

    [Fact]
    public async Task A_sweep_moves_a_customers_rfm_segment_when_its_recency_reaches_the_cut_point_that_changes_it()
    {
        var at = new DateTime(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var model = await AYearOfPurchasesThenTrainAsync("rs", at, seed: 11);
        var cuts = model.Rfm!;
        var customers = Enumerable.Range(0, 200).Select(c => $"rs{c}").ToArray();
        var views = new Dictionary<string, CustomerView>();
        foreach (var c in customers)
        {
            views[c] = (await _cluster.Client.GetGrain<ICustomerGrain>(c).GetAsync())!;
        }

        // Two silent years later: every shard swept, every customer's RFM segment is where its recency put it, and each
        // move by silence is dated when the recency reached the cut point.
        var later = at.AddYears(3);
        for (var i = 0; i < 4; i++)
        {
            await _cluster.Client.GetGrain<IShardGrain>(i).SweepAsync(later);
        }
        string SegmentAt(CustomerView v, DateTime t) =>
            RfmRules.SegmentOf(cuts, new Rfm((t - (v.AsOf - TimeSpan.FromDays(v.RecencyDays))).TotalDays, v.Frequency, v.Monetary))!.Id;
        var silences = 0;
        foreach (var c in customers)
        {
            var v = views[c];
            var rfm = (await _cluster.Client.GetGrain<ICustomerGrain>(c).GetHistoryAsync(0)).Where(t => t.Kind == SegmentKind.Rfm).ToList();
            Assert.True(SegmentAt(v, later) == rfm[0].ToSegmentId, $"{c}: {v.RecencyDays} days at {v.AsOf}; {string.Join(" | ", rfm)}");
            foreach (var move in rfm.Where(t => t.Cause == TransitionCause.Inactivity))
            {
                Assert.Equal(move.FromSegmentId, SegmentAt(v, move.At.AddSeconds(-1)));
                Assert.Equal(move.ToSegmentId, SegmentAt(v, move.At));
                silences++;
            }
        }
        Assert.True(silences > 20, $"{silences} moves by silence: the test shows too little");
    }

    [Fact]
    public async Task In_event_time_silence_is_swept_up_to_a_batchs_earliest_event_before_it_applies_and_to_its_time_at_the_end_of_a_stream()
    {
        // A batch can span months of event time (an import sends thousands of events a request). Swept up to its latest
        // event, a customer due inside that span would be judged silent before the purchase the batch brings it.
        OfferTwoSegmentModel(new DateTime(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        var earliest = _cluster.GetSiloServiceProvider().GetRequiredService<EngineClock>().Now.AddMinutes(5);
        var events = new Engine.Storage.PendingEvent[]
        {
            new("span-0", "span-a", EventKind.Purchase, earliest, 10, "x", null),
            new("span-1", "span-b", EventKind.Purchase, earliest.AddMinutes(3), 10, "x", null),
        };
        _shardSweeps.Clear();
        await _cluster.GetSiloServiceProvider().GetRequiredService<IngestPipeline>().SubmitAsync(events, default);
        // (A settling sweep before the batch, up to the time applied before it, is not the batch's.)
        Assert.Equal(Enumerable.Repeat(earliest, 4), _shardSweeps.Where(at => at >= earliest).Take(4));

        // With nothing queued behind it, silence is then judged up to the batch's time (the end of an import), at once:
        // sooner than the settling sweep's 5 s would come (InactivitySweeper.SettleInterval).
        for (var tries = 0; _shardSweeps.Count(at => at >= earliest) < 8; tries++)
        {
            Assert.True(tries < 40, $"no sweep after the batch: {string.Join(", ", _shardSweeps)}");
            await Task.Delay(50);
        }
        Assert.All(_shardSweeps.Where(at => at >= earliest).Skip(4), at => Assert.True(at >= earliest.AddMinutes(3), $"swept to {at:O} after the batch"));
    }

    [Fact]
    public async Task The_sweep_leaves_the_customers_a_rollout_has_yet_to_reach_to_it_until_it_ends()
    {
        var at = new DateTime(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var model = await AYearOfPurchasesThenTrainAsync("sw", at, seed: 3);

        // A rollout of a model that moves everyone (new segment ids) has named shard 0's customers and reached none yet.
        var shard0 = _cluster.Client.GetGrain<IShardGrain>(0);
        var next = model with { SegmentIds = ["n1", "n2", "n3"] };
        Assert.Equal(await shard0.GetSizeAsync(), (await shard0.GetCandidatesAsync(next)).Length);

        // Six silent years later the sweep moves customers on the other shards, and none of those the rollout has yet to reach.
        var later = at.AddYears(6);
        var others = await Task.WhenAll(Enumerable.Range(1, 3).Select(i => _cluster.Client.GetGrain<IShardGrain>(i).SweepAsync(later)));
        Assert.True(others.Sum() > 0, "the sweep moved no one: the test shows nothing");
        Assert.Equal(0, await shard0.SweepAsync(later));

        // Once the rollout ends (here without reaching anyone, as a failed one would), the sweep looks after them again.
        await shard0.EndRolloutAsync(next.Version);
        Assert.True(await shard0.SweepAsync(later) > 0, "the sweep still leaves them to a rollout that has ended");
    }

    [Fact]
    public async Task In_event_time_what_a_batchs_sweep_left_to_a_rollout_is_swept_once_the_rollout_ends_though_no_batch_comes()
    {
        var at = new DateTime(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var model = await AYearOfPurchasesThenTrainAsync("se", at, seed: 3);
        _cluster.GetSiloServiceProvider().GetRequiredService<ModelReplica>().Offer(model);
        var shard0 = _cluster.Client.GetGrain<IShardGrain>(0);
        var next = model with { SegmentIds = ["n1", "n2", "n3"] };
        Assert.NotEmpty(await shard0.GetCandidatesAsync(next));

        // The last batch of an import, six silent years later: its sweep leaves shard 0's customers to the rollout.
        var later = at.AddYears(6);
        await _cluster.GetSiloServiceProvider().GetRequiredService<IngestPipeline>().SubmitAsync(
            [new("se-last-0", "se-last", EventKind.Purchase, later, 10, "x", null)], default);
        var held = CustomersOf(0, "se");
        Assert.Empty((await InactivityMovesAsync(held)).Recorded);

        // The rollout ends without reaching them (as a failed one would). No batch comes, yet their silence is swept up
        // to the last batch's time: each one's last RFM move is to the RFM segment its lookup (dated then) shows.
        await shard0.EndRolloutAsync(next.Version);
        string[] behind = held;
        for (var tries = 0; behind.Length > 0; tries++)
        {
            Assert.True(tries < 100, $"{behind.Length} of shard 0's {held.Length} customers were not swept after the last batch");
            await Task.Delay(200);
            behind = (await Task.WhenAll(held.Select(async c =>
            {
                var grain = _cluster.Client.GetGrain<ICustomerGrain>(c);
                var v = (await grain.GetAsync())!;
                var now = RfmRules.SegmentOf(model.Rfm, new Rfm(v.RecencyDays, v.Frequency, v.Monetary))?.Id;
                var last = (await grain.GetHistoryAsync(0)).FirstOrDefault(t => t.Kind == SegmentKind.Rfm)?.ToSegmentId;
                return now is null || now == last ? null : c;
            }))).OfType<string>().ToArray();
        }
        var moves = (await InactivityMovesAsync(held)).Recorded;
        Assert.NotEmpty(moves);
        Assert.All(moves, m => Assert.True(m.At <= later, $"moved at {m.At:O}, after the last batch's time"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_rollout_leaves_its_customers_to_ingest_for_as_long_as_ingest_keeps_reaching_them(bool reachingStops)
    {
        var at = new DateTime(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var first = await AYearOfPurchasesThenTrainAsync("rs", at, seed: 5);
        var coordinator = _cluster.Client.GetGrain<ISegmentCoordinatorGrain>(0);
        var pipeline = _cluster.GetSiloServiceProvider().GetRequiredService<IngestPipeline>();
        var shards = Enumerable.Range(0, 4).Select(i => _cluster.Client.GetGrain<IShardGrain>(i)).ToArray();
        var held = System.Threading.Channels.Channel.CreateUnbounded<TaskCompletionSource>();
        // Lets each shard's rollout take one look, after running `meanwhile` while all four looks wait.
        async Task NextLooksAsync(Func<Task> meanwhile)
        {
            var looks = new List<TaskCompletionSource>();
            while (looks.Count < shards.Length)
            {
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                var look = await held.Reader.ReadAsync(wait.Token).AsTask().ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : null);
                looks.Add(look ?? throw new Xunit.Sdk.XunitException($"the rollout took {looks.Count} of {shards.Length} shards' next look within 30 s"));
            }
            await meanwhile();
            looks.ForEach(l => l.SetResult());
        }
        Task PurchasesAsync(IEnumerable<string> customers, string tag) => pipeline.SubmitAsync(customers
            .Select(c => new Engine.Storage.PendingEvent($"{c}-{tag}", c, EventKind.Purchase, at.AddYears(1), 20, "x", null)).ToArray(), default);
        var everyone = Enumerable.Range(0, 200).Select(c => $"rs{c}").ToArray();
        var halves = Array.Empty<string>();

        // A retrain to k = 4 moves many customers. Its rollout looks at each shard once before waiting, then after each
        // settle interval. Before the first of those, ingest reaches half of each shard's candidates. Before the second,
        // either everyone (the rollout then has no one left to ask), or the same half again: the shards take rows but
        // no candidate is reached, so the rollout stops waiting and asks the rest.
        _heldRolloutLooks = held;
        Volatile.Write(ref _reassignCalls, 0);
        Volatile.Write(ref _rolloutLooks, 0);
        var retrain = coordinator.RetrainAsync(4, "manual");
        var model = (ModelSnapshot?)null;
        await NextLooksAsync(async () =>
        {
            model = await coordinator.GetModelAsync();
            Assert.Equal(first.Version + 1, model!.Version);
            Assert.All(await Task.WhenAll(shards.Select(s => s.GetRolloutReachAsync(model.Version))),
                r => Assert.True(r.StillToReach >= 2, "a shard has fewer than 2 candidates: the test shows little"));
        });
        await NextLooksAsync(async () =>
        {
            halves = (await Task.WhenAll(shards.Select(async s => (await s.StillToReachAsync(everyone, model!.Version)).Where((_, i) => i % 2 == 0))))
                .SelectMany(h => h).ToArray();
            await PurchasesAsync(halves, "late");
        });
        var left = 0;
        await NextLooksAsync(async () =>
        {
            await PurchasesAsync(reachingStops ? halves : everyone, reachingStops ? "again" : "late");
            left = await StillToReachAsync();
            Assert.Equal(reachingStops, left > 0);
        });
        _heldRolloutLooks = null;
        var outcome = await retrain;

        // Each shard's rollout took the look before waiting and one after each of two intervals, and then stopped
        // waiting: no one left, or no one reached over the last interval. It asked only those ingest had not reached.
        Assert.Equal(12, Volatile.Read(ref _rolloutLooks));
        Assert.Equal(left, Volatile.Read(ref _reassignCalls));
        var log = _cluster.GetSiloServiceProvider().GetRequiredService<Engine.Storage.IEventLog>();
        var moves = (await log.ReadTransitionsAsync(0, 10_000, new([], [], [TransitionCause.Retrain]))).Items
            .Count(t => t.Transition.ModelVersion == model!.Version);
        Assert.True(moves > 20, $"the new model moved {moves} customers");

        async Task<int> StillToReachAsync() => (await Task.WhenAll(shards.Select(s => s.GetRolloutReachAsync(model!.Version)))).Sum(r => r.StillToReach);
    }

    [Fact]
    public async Task With_ingest_idle_a_rollout_waits_two_settle_intervals_then_asks_its_customers()
    {
        var at = new DateTime(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var first = await AYearOfPurchasesThenTrainAsync("ri", at, seed: 5);
        Volatile.Write(ref _rolloutLooks, 0);
        Volatile.Write(ref _reassignCalls, 0);

        var outcome = await _cluster.Client.GetGrain<ISegmentCoordinatorGrain>(0).RetrainAsync(4, "manual");

        // Each of the 4 shards: the look before waiting and one after each of two settle intervals, which find no rows taken.
        Assert.Equal(first.Version + 1, outcome.Model.Version);
        Assert.Equal(12, Volatile.Read(ref _rolloutLooks));
        Assert.True(Volatile.Read(ref _reassignCalls) > 20, $"the rollout asked {_reassignCalls} customers");
        Assert.True(outcome.Reassigned > 20, $"the rollout moved {outcome.Reassigned} customers");
    }

    [Fact]
    public async Task Customers_that_cannot_be_reassigned_do_not_fail_the_retrain_and_the_sweep_gets_them()
    {
        var at = new DateTime(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var first = await AYearOfPurchasesThenTrainAsync("rr", at, seed: 6);
        _refuseReassignPrefix = "rr1";
        try
        {
            var outcome = await _cluster.Client.GetGrain<ISegmentCoordinatorGrain>(0).RetrainAsync(4, "manual");
            Assert.Equal(first.Version + 1, outcome.Model.Version);
            Assert.Equal(outcome.Model.Version, (await _cluster.Client.GetGrain<ISegmentCoordinatorGrain>(0).GetModelAsync())!.Version);
        }
        finally
        {
            _refuseReassignPrefix = null;
        }
    }

    /// <summary>Which of the customers <paramref name="prefix"/>0..199 shard <paramref name="shard"/> keeps.</summary>
    private string[] CustomersOf(int shard, string prefix)
    {
        var router = _cluster.GetSiloServiceProvider().GetRequiredService<ShardRouter>();
        return Enumerable.Range(0, 200).Select(c => $"{prefix}{c}").Where(c => router.ShardOf(c) == shard).ToArray();
    }

    /// <summary>The inactivity moves the customers recorded in their histories, and every one the transition log holds.</summary>
    private async Task<(TransitionRecord[] Recorded, TransitionRecord[] Logged)> InactivityMovesAsync(IEnumerable<string> customers)
    {
        var recorded = new List<TransitionRecord>();
        foreach (var c in customers)
        {
            recorded.AddRange((await _cluster.Client.GetGrain<ICustomerGrain>(c).GetHistoryAsync(100)).Where(t => t.Cause == TransitionCause.Inactivity));
        }
        var log = _cluster.GetSiloServiceProvider().GetRequiredService<Engine.Storage.IEventLog>();
        var logged = await log.ReadTransitionsAsync(0, 10_000, new([], [], [TransitionCause.Inactivity]));
        return (recorded.ToArray(), logged.Items.Select(t => t.Transition).ToArray());
    }

    [Fact]
    public async Task A_sweep_with_one_failed_customer_still_logs_the_others_moves_and_looks_at_that_customer_again()
    {
        var services = _cluster.GetSiloServiceProvider();
        var at = new DateTime(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        await AYearOfPurchasesThenTrainAsync("sf", at, seed: 5);

        // Six silent years later a shard's sweep moves its customers; one of them fails.
        var customers = CustomersOf(0, "sf");
        _refuseSweepOf = customers[0];
        var shard = _cluster.Client.GetGrain<IShardGrain>(0);
        var later = at.AddYears(6);
        await Assert.ThrowsAsync<InvalidOperationException>(() => shard.SweepAsync(later));
        // Every move the customers made is in the log: none was dropped with the failed call's round.
        var (recorded, logged) = await InactivityMovesAsync(customers);
        Assert.True(recorded.Length > 0, "the sweep moved no one: the test shows nothing");
        Assert.Equal(recorded.Select(t => t.CustomerId).Order(), logged.Select(t => t.CustomerId).Order());
        Assert.DoesNotContain(customers[0], recorded.Select(t => t.CustomerId));

        // A sweep interval later the failed customer is looked at again, and moves.
        _refuseSweepOf = null;
        var next = later + services.GetRequiredService<Microsoft.Extensions.Options.IOptions<IngestOptions>>().Value.SweepInterval;
        await shard.SweepAsync(next);
        Assert.Contains(customers[0], (await InactivityMovesAsync([])).Logged.Select(t => t.CustomerId));
    }

    [Fact]
    public async Task Sweep_calls_whose_answers_are_lost_after_the_customers_moved_still_log_those_moves()
    {
        var at = new DateTime(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        await AYearOfPurchasesThenTrainAsync("sl", at, seed: 7);

        // Six silent years later a shard's sweep moves its customers, and every answer is lost after the move.
        var customers = CustomersOf(1, "sl");
        _loseSweepAnswersOf = customers.ToHashSet();
        await Assert.ThrowsAsync<TimeoutException>(() => _cluster.Client.GetGrain<IShardGrain>(1).SweepAsync(at.AddYears(6)));
        _loseSweepAnswersOf = null;

        // Each move the customers recorded is in the transition log all the same.
        var (recorded, logged) = await InactivityMovesAsync(customers);
        Assert.True(recorded.Length > 0, "the sweep moved no one: the test shows nothing");
        static string Key(TransitionRecord t) => $"{t.CustomerId}/{t.Number}";
        Assert.Equal(recorded.Select(Key).Order(), logged.Select(Key).Order());
    }

    [Fact]
    public async Task A_rollout_does_not_ask_customers_whose_rows_already_came_under_its_model()
    {
        var shard = _cluster.Client.GetGrain<IShardGrain>(0);
        var at = new DateTime(1997, 9, 1, 0, 0, 0, DateTimeKind.Utc);
        var d = Engine.Core.FeatureNames.Count;
        ShardRow Row(string id, string segment, long model) => new(id, new float[d], at, segment, null, 0, model);
        // Every row sits at the origin, a, b and c in s2 under model 1. Model 2 has s1 there, so those three are
        // candidates, and d (in s1) is not.
        await shard.UpsertAsync([Row("a", "s2", 1), Row("b", "s2", 1), Row("c", "s2", 1), Row("d", "s1", 1)]);
        var model = new ModelSnapshot(2, 2, d, [.. new float[d], .. Enumerable.Repeat(1f, d)], new double[d],
            Enumerable.Repeat(1.0, d).ToArray(), ["s1", "s2"], ["One", "Two"], at, 3, 0, 1, "test");
        Assert.Equal(["a", "b", "c"], (await shard.GetCandidatesAsync(model)).Order());

        // Ingest brings a's row under model 2, and b's under model 1 (a batch stamped before the model was published).
        await shard.UpsertAsync([Row("a", "s1", 2), Row("b", "s1", 1) with { LogPosition = 1 }]);

        Assert.Equal(["b", "c"], (await shard.StillToReachAsync(["a", "b", "c"], 2)).Order());
        Assert.Equal(new RolloutReach(2, 1, 6), await shard.GetRolloutReachAsync(2));
        Assert.Equal(-1, (await shard.GetRolloutReachAsync(3)).StillToReach);
        // A rollout the shard does not track (it reactivated meanwhile, say) asks everyone.
        Assert.Equal(["a", "b", "c"], (await shard.StillToReachAsync(["a", "b", "c"], 3)).Order());

        // A batch logged under model 1 reaches d after the candidates were named: the rollout asks d at its end, once.
        Assert.Empty(await shard.TakeLateToRolloutAsync(2));
        await shard.UpsertAsync([Row("d", "s1", 1) with { LogPosition = 1 }]);
        Assert.Equal(["d"], await shard.TakeLateToRolloutAsync(2));
        Assert.Empty(await shard.TakeLateToRolloutAsync(2));
    }

    /// <summary>
    /// The silo dies now: the customer goes, and the store is left with <paramref name="checkpoint"/>. (Deactivation
    /// saves, through <paramref name="lastSeq"/>, so the test waits for that and puts the checkpoint back.)
    /// </summary>
    private static string HistoryKey(TransitionRecord t) => $"{t.Number}:{t.FromSegmentId}->{t.ToSegmentId} {t.Cause} {t.At:O} v{t.ModelVersion}";

    /// <summary>Under model 1 (two segments), the customer's first purchase, applied and checkpointed; the stored state.</summary>
    private async Task<(ICustomerGrain Grain, LoggedEvent First, TransitionRecord[] Moves, CustomerState Saved)> FirstPurchaseSavedAsync(string id, DateTime at)
    {
        var grain = _cluster.Client.GetGrain<ICustomerGrain>(id);
        OfferTwoSegmentModel(at);
        var first = await AppendAsync(id, 0, at, model: 1);
        var moves = (await grain.ApplyAsync(new([first], 0, first.LogPosition))).Transitions;
        await grain.CheckpointAsync();
        var saved = new GrainState<CustomerState>();
        await _cluster.GetSiloServiceProvider().GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(StorageNames.Engine)
            .ReadStateAsync("customer", grain.GetGrainId(), saved);
        return (grain, first, moves, saved.State!);
    }

    private async Task CrashAsync(ICustomerGrain grain, CustomerState checkpoint, long lastSeq)
    {
        var storage = _cluster.GetSiloServiceProvider().GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(StorageNames.Engine);
        var stored = new GrainState<CustomerState>();
        await grain.AsReference<Orleans.Core.Internal.IGrainManagementExtension>().DeactivateOnIdle();
        for (var tries = 0; stored.State?.LogPosition != lastSeq; tries++)
        {
            Assert.True(tries < 100, "the customer did not deactivate");
            await Task.Delay(50);
            await storage.ReadStateAsync("customer", grain.GetGrainId(), stored);
        }
        stored.State = checkpoint;
        await storage.WriteStateAsync("customer", grain.GetGrainId(), stored);
    }

    /// <summary>
    /// A rollout of model 2 (the same centroids) reaches the customer and does not move it: version 2 is only in memory.
    /// A batch then arrives logged under model 1 (its silo stamped it before the model) or 2. A replay would start from
    /// version 1: it would assign a batch of model 1 under model 1, or adopt model 2 before a batch of model 2, a step the
    /// live path did not take. So version 2 is saved first.
    /// </summary>
    [Theory]
    [InlineData(1L)]
    [InlineData(2L)]
    public async Task A_batch_applied_while_the_customer_holds_a_newer_model_only_in_memory_is_applied_after_saving_it(long stamp)
    {
        var storage = _cluster.GetSiloServiceProvider().GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(StorageNames.Engine);
        var id = $"ahead-{stamp}";
        var grain = _cluster.Client.GetGrain<ICustomerGrain>(id);
        var at = new DateTime(1997, 11, 1, 0, 0, 0, DateTimeKind.Utc);
        var stored = new GrainState<CustomerState>();

        OfferTwoSegmentModel(at);
        var first = await AppendAsync(id, 0, at, model: 1);
        await grain.ApplyAsync(new([first], 0, first.LogPosition));
        await grain.CheckpointAsync();

        OfferTwoSegmentModel(at, version: 2);
        Assert.Empty((await grain.ReassignAsync(2)).Transitions);
        var second = await AppendAsync(id, 1, at, model: stamp);
        await grain.ApplyAsync(new([second], first.LogPosition, second.LogPosition));

        await storage.ReadStateAsync("customer", grain.GetGrainId(), stored);
        Assert.Equal((first.LogPosition, 2L), (stored.State!.LogPosition, stored.State.ModelVersion));
        var saved = stored.State;

        // After a crash the replay assigns it under model 2, never back under 1.
        await CrashAsync(grain, saved, second.LogPosition);
        await grain.CheckpointAsync();
        await storage.ReadStateAsync("customer", grain.GetGrainId(), stored);
        Assert.Equal((second.LogPosition, 2L), (stored.State!.LogPosition, stored.State.ModelVersion));
    }

    [Fact]
    public async Task A_move_a_new_model_makes_is_a_retrain_also_when_the_customers_next_event_reaches_it_before_the_rollout()
    {
        var at = new DateTime(1997, 12, 1, 0, 0, 0, DateTimeKind.Utc);
        var (grain, first, moves0, saved) = await FirstPurchaseSavedAsync("relabelled", at);
        var entry = Assert.Single(moves0);

        // Model 2 labels every place the other way round. Before any rollout, the customer's next purchase arrives,
        // logged under model 2: the relabelling is the model's move, dated at the batch, before the purchase applies.
        OfferTwoSegmentModel(at, version: 2, swapped: true);
        var second = await AppendAsync("relabelled", 1, at, model: 2);
        var moves = (await grain.ApplyAsync(new([second], first.LogPosition, second.LogPosition))).Transitions;
        var relabelled = entry.ToSegmentId == "s1" ? "s2" : "s1";
        Assert.Equal((TransitionCause.Retrain, entry.ToSegmentId, relabelled, second.AsOf, 2L),
            (moves[0].Cause, moves[0].FromSegmentId, moves[0].ToSegmentId, moves[0].At, moves[0].ModelVersion));
        Assert.All(moves.Skip(1), m => Assert.Equal(TransitionCause.Event, m.Cause));
        var history = (await grain.GetHistoryAsync(0)).Select(HistoryKey).ToArray();

        // A replay after a crash takes the same step.
        await CrashAsync(grain, saved, second.LogPosition);
        Assert.Equal(history, (await grain.GetHistoryAsync(0)).Select(HistoryKey));
    }

    [Fact]
    public async Task A_retrain_move_whose_checkpoint_fails_is_forgotten_and_never_handed_over()
    {
        var grain = _cluster.Client.GetGrain<ICustomerGrain>("unsaved-move");
        // Later than any batch this silo has applied (the other tests' are in 1997): the move below is still dated no
        // earlier than the customer's own last assignment.
        var at = new DateTime(2001, 12, 5, 0, 0, 0, DateTimeKind.Utc);
        OfferTwoSegmentModel(at);
        var first = await AppendAsync("unsaved-move", 0, at, model: 1);
        var entry = Assert.Single((await grain.ApplyAsync(new([first], 0, first.LogPosition))).Transitions);
        await grain.CheckpointAsync();

        // Model 2 moves everyone; the move's checkpoint fails.
        OfferTwoSegmentModel(at, version: 2, swapped: true);
        lock (_failWriteGate)
        {
            _failWriteOf = "unsaved-move";
        }
        await Assert.ThrowsAnyAsync<Exception>(() => grain.ReassignAsync(2));

        // The caller's resend gets only what is durable; the customer is where its checkpoint says.
        Assert.DoesNotContain((await grain.RecoverAsync()).Transitions, t => t.Number > entry.Number);
        var view = (await grain.GetAsync())!;
        Assert.Equal((entry.ToSegmentId, 1L), (view.SegmentId, view.ModelVersion));
        Assert.Single(await grain.GetHistoryAsync(0));

        // Asked again, it moves, and that move is number 2 and saved.
        var moved = Assert.Single((await grain.ReassignAsync(2)).Transitions);
        Assert.Equal((entry.Number + 1, TransitionCause.Retrain), (moved.Number, moved.Cause));
        Assert.True(moved.At >= entry.At, $"the retrain's move is dated {moved.At:O}, before the customer's last move at {entry.At:O}");
    }

    [Fact]
    public async Task After_a_crash_a_replay_assigns_each_event_under_the_model_it_was_logged_with_so_a_newer_model_needs_no_write()
    {
        var storage = _cluster.GetSiloServiceProvider().GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(StorageNames.Engine);
        var at = new DateTime(1997, 10, 1, 0, 0, 0, DateTimeKind.Utc);

        // Model 1 assigns the first purchase, which is saved; then a second one, which is not.
        var (grain, first, _, saved) = await FirstPurchaseSavedAsync("stamped", at);
        var second = await AppendAsync("stamped", 1, at, model: 1);
        await grain.ApplyAsync(new([second], first.LogPosition, second.LogPosition));

        // Model 2 labels every place the other way round, and assigns the third purchase: a move.
        OfferTwoSegmentModel(at, version: 2, swapped: true);
        var third = await AppendAsync("stamped", 2, at, model: 2);
        await grain.ApplyAsync(new([third], second.LogPosition, third.LogPosition));
        var before = (await grain.GetAsync())!;
        var history = (await grain.GetHistoryAsync(0)).Select(HistoryKey).ToArray();
        Assert.Equal(2, before.ModelVersion);
        Assert.Contains(history, h => h.EndsWith(" v2", StringComparison.Ordinal));

        // Nothing was written for the newer model: the store still holds the first purchase's checkpoint.
        var stored = new GrainState<CustomerState>();
        await storage.ReadStateAsync("customer", grain.GetGrainId(), stored);
        Assert.Equal(first.LogPosition, stored.State!.LogPosition);

        await CrashAsync(grain, saved, third.LogPosition);

        // The replay assigns the second purchase under model 1 and the third under model 2, as the live path did.
        // (Under the current model alone, the second purchase would have moved the customer a purchase early.)
        var after = (await grain.GetAsync())!;
        Assert.Equal((before.SegmentId, before.ModelVersion, before.Frequency), (after.SegmentId, after.ModelVersion, after.Frequency));
        Assert.Equal(history, (await grain.GetHistoryAsync(0)).Select(HistoryKey));
    }
}

/// <summary>Grain storage whose write fails for a grain the test names, as a database error would.</summary>
public sealed class FailingWrites(Orleans.Storage.IGrainStorage inner, Func<string, bool> fail) : Orleans.Storage.IGrainStorage, IDisposable
{
    // The container disposes this one, not the storage it wraps (the batched writer's connection).
    public void Dispose() => (inner as IDisposable)?.Dispose();

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        fail(grainId.Key.ToString()!) ? throw new IOException("Grain-state write failed (test fault).") : inner.WriteStateAsync(stateName, grainId, grainState);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);
}

/// <summary>An event log that can commit an append and then fail it, as a connection lost before the answer would.</summary>
public class FaultyLog : System.Reflection.DispatchProxy
{
    private Engine.Storage.IEventLog _inner = null!;
    private int _loseNext;

    public static Engine.Storage.IEventLog Wrap(Engine.Storage.IEventLog inner)
    {
        var proxy = Create<Engine.Storage.IEventLog, FaultyLog>();
        ((FaultyLog)(object)proxy)._inner = inner;
        return proxy;
    }

    public void LoseNextAppendAnswer() => Volatile.Write(ref _loseNext, 1);

    protected override object? Invoke(System.Reflection.MethodInfo? method, object?[]? args)
    {
        var result = method!.Invoke(_inner, args);
        return method.Name == nameof(Engine.Storage.IEventLog.AppendAsync) && Interlocked.Exchange(ref _loseNext, 0) == 1
            ? LoseAnswer((Task<Engine.Storage.AppendResult>)result!)
            : result;
    }

    private static async Task<Engine.Storage.AppendResult> LoseAnswer(Task<Engine.Storage.AppendResult> append)
    {
        await append;
        throw new IOException("The connection was lost after the commit (test fault).");
    }
}
