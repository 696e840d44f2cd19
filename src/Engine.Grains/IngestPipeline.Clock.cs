namespace Engine.Grains;

// Event time in a cluster: each silo tells the others through which time it has applied its batches, so a change no
// event brings (a retrain's rollout) is dated no later than a batch any silo still has on its way to a customer.
public sealed partial class IngestPipeline
{
    /// <summary>The meta key prefix under which every silo records, in event time, through which time its batches are applied.</summary>
    public const string AppliedAtPrefix = "applied_at:";

    private string AppliedAtKey => AppliedAtPrefix + _appliedKey[AppliedPrefix.Length..];

    /// <summary>Whether a batch is between leaving the queue and being applied (what <see cref="EngineClock.OwnApplied"/> asks).</summary>
    private bool BatchesInFlight() => Volatile.Read(ref _committing) + Volatile.Read(ref _unapplied) > 0;

    /// <summary>
    /// Records this silo's applied time and takes the earliest of the other live silos' (<see cref="EngineClock.AppliedNow"/>).
    /// A silo that dies keeps its last figure until it is declared dead: the dates it holds back are only earlier.
    /// </summary>
    public async Task ShareAppliedTimeAsync(CancellationToken ct)
    {
        await meta.SetMetaAsync(AppliedAtKey, clock.OwnApplied(clock.Now).Ticks, ct);
        var snapshot = membership.CurrentSnapshot;
        var earliest = long.MaxValue;
        foreach (var (key, ticks) in await meta.ListMetaAsync(AppliedAtPrefix, ct))
        {
            // Only silos the membership lists as active: a dead one's figure, or one left in a store restored elsewhere,
            // would hold every date back.
            if (key != AppliedAtKey && snapshot.GetSiloStatus(SiloAddress.FromParsableString(key[AppliedAtPrefix.Length..])) == SiloStatus.Active)
            {
                earliest = Math.Min(earliest, ticks);
            }
        }
        clock.PeersApplied(earliest == long.MaxValue ? null : new DateTime(earliest, DateTimeKind.Utc));
    }
}
