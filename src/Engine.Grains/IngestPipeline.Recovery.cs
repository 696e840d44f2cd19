using System.Diagnostics;
using Engine.Abstractions;
using Microsoft.Extensions.Logging;

namespace Engine.Grains;

// Crash recovery: at start, and for a dead peer's batches (the leader's work), every customer with events after the cluster's checkpoint position is replayed.
public sealed partial class IngestPipeline
{
    private async Task RecoverAsync(CancellationToken ct)
    {
        clock.TrackInFlight(BatchesInFlight);
        var started = Stopwatch.GetTimestamp();
        await replica.RefreshAsync();
        var from = await meta.GetMetaAsync(CheckpointKey, ct);
        var head = await log.GetHeadAsync(ct);
        EngineMetrics.RecoveryPending.Set(Math.Max(0, head.MaxSeq - from));
        if (head.MaxOccurredAt is { } watermark)
        {
            // Everything logged is applied once this start's replay is done, and ingest opens only after it.
            clock.Observe(watermark);
            clock.Applied(head.MaxAsOf ?? watermark);
        }
        _lastBatchAsOf = head.MaxAsOf ?? DateTime.MinValue;
        // Registered before ingest opens, so the cluster's checkpoint never passes an append of this silo it has not applied.
        _ownApplied = head.MaxSeq;
        await meta.SetMetaAsync(_appliedKey, _ownApplied, ct);
        // Dead peers are listed before the replay: one that dies during it is left for the leader.
        var dead = await DeadPeersAsync(ct);
        var replayed = await ReplayAsync(from, ct);
        _lastApplied = head.MaxSeq;
        _coverage.Start(head.MaxSeq);
        _lastCheckpoint = from;
        // This replay also covers whatever earlier incarnations or dead peers left unapplied.
        await ForgetAsync(dead, ct);
        if (replayed > 0)
        {
            await CheckpointCoreAsync();
        }
        EngineMetrics.RecoveryPending.Set(0);
        EngineMetrics.RecoverySeconds.WithLabels("startup").Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        LogRecovered(logger, replayed, from, head.MaxSeq);
    }

    /// <summary>
    /// Brings every customer with events after <paramref name="from"/> up to date from the log and republishes its row.
    /// One customer's failure is that customer's: tried again as in ingest (<see cref="RetryAsync"/>), then left lagging
    /// (caught up between batches, and holding the checkpoint meanwhile), and the replay goes on; so is a chunk whose
    /// publish fails. An event a customer cannot apply never gets here: the customer quarantines it (see CustomerGrain).
    /// </summary>
    private async Task<int> ReplayAsync(long from, CancellationToken ct)
    {
        var touched = await log.CustomersAfterAsync(from, ct);
        foreach (var chunk in touched.Chunk(RecoveryChunk))
        {
            var results = await Task.WhenAll(chunk.Select(id => RetryAsync(id, "recovery")));
            for (var i = 0; i < chunk.Length; i++)
            {
                if (results[i] is null)
                {
                    _lagging.Add(chunk[i]);
                }
            }
            await TryPublishAsync(results.OfType<ApplyResult>().ToList(), id => _lagging.Add(id));
        }
        return touched.Length;
    }

    /// <summary>
    /// Replays what dead silos may have committed but not applied: their customers whose grains live on could otherwise
    /// miss those events until their next one, and their shards lost rows since the last checkpoint. One silo (the
    /// <see cref="ClusterLeader"/>) does it; the replay is idempotent, so a repeat after a crash half way costs only time.
    /// </summary>
    public async Task RecoverDeadPeersAsync(CancellationToken ct = default)
    {
        if (!leader.IsThisSilo)
        {
            return;
        }
        var dead = await DeadPeersAsync(ct);
        if (dead.Count == 0)
        {
            return;
        }
        await _turn.WaitAsync(ct);
        try
        {
            await _published;
            var started = Stopwatch.GetTimestamp();
            var from = await meta.GetMetaAsync(CheckpointKey, ct);
            EngineMetrics.RecoveryPending.Set(Math.Max(0, await log.GetHeadSeqAsync(ct) - from));
            int replayed;
            try
            {
                replayed = await ReplayAsync(from, ct);
            }
            finally
            {
                EngineMetrics.RecoveryPending.Set(0);
            }
            await ForgetAsync(dead, ct);
            EngineMetrics.PeerRecoveries.Inc(dead.Count);
            EngineMetrics.RecoverySeconds.WithLabels("peer").Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
            LogPeersRecovered(logger, string.Join(", ", dead), replayed, from, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
        finally
        {
            _turn.Release();
        }
    }

    /// <summary>Applied-position keys of silos that are dead, or were replaced by a newer incarnation on the same endpoint.</summary>
    private Task<List<string>> DeadPeersAsync(CancellationToken ct) => PeerKeysAsync(IsDead, ct);

    /// <summary>
    /// Whether another silo that appended to the log may have batches not applied yet: dead and not yet replayed (its
    /// key goes after the replay), or stopping (its key goes once it has applied and checkpointed everything).
    /// </summary>
    private async Task<bool> PeersMayHaveUnappliedAsync(CancellationToken ct) =>
        (await PeerKeysAsync(static (snapshot, peer) => IsDead(snapshot, peer)
            || snapshot.GetSiloStatus(SiloAddress.FromParsableString(peer)) is SiloStatus.ShuttingDown or SiloStatus.Stopping, ct)).Count > 0;

    /// <summary>The other silos' applied keys whose silo (its parsable address) is <paramref name="which"/> in the current membership.</summary>
    private async Task<List<string>> PeerKeysAsync(Func<ClusterMembershipSnapshot, string, bool> which, CancellationToken ct)
    {
        var snapshot = membership.CurrentSnapshot;
        var keys = await meta.ListMetaAsync(AppliedPrefix, ct);
        return keys.Keys.Where(key => key != _appliedKey && which(snapshot, key[AppliedPrefix.Length..])).ToList();
    }

    /// <summary>Whether the silo <paramref name="peer"/> (its parsable address) is dead, or replaced by a newer incarnation on its endpoint.</summary>
    private static bool IsDead(ClusterMembershipSnapshot snapshot, string peer)
    {
        var address = SiloAddress.FromParsableString(peer);
        return snapshot.GetSiloStatus(address) == SiloStatus.Dead
            || snapshot.Members.Values.Any(m => m.SiloAddress.Endpoint.Equals(address.Endpoint) && m.SiloAddress.Generation > address.Generation);
    }

    /// <summary>Forgets dead silos' applied positions (their <c>applied:</c> keys) and applied times.</summary>
    private async Task ForgetAsync(List<string> keys, CancellationToken ct)
    {
        foreach (var key in keys)
        {
            await meta.DeleteMetaAsync(key, ct);
            await meta.DeleteMetaAsync(AppliedAtPrefix + key[AppliedPrefix.Length..], ct);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Recovery replayed {Customers} customers with events after log position {From} (head {Head})")]
    private static partial void LogRecovered(ILogger logger, int customers, long from, long head);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dead silos {Peers}: replayed {Customers} customers with events after log position {From} in {Seconds:F2} s")]
    private static partial void LogPeersRecovered(ILogger logger, string peers, int customers, long from, double seconds);
}
