namespace Engine.Grains;

/// <summary>
/// The one silo that does cluster-wide chores (replaying a dead silo's appends, delivering webhooks): the active silo
/// with the lowest address. Every silo computes the same answer from its membership view; while views disagree for a
/// moment two silos may both act, so the chores are idempotent (replays) or at-least-once (webhook deliveries).
/// </summary>
public sealed class ClusterLeader(ILocalSiloDetails silo, IClusterMembershipService membership)
{
    public bool IsThisSilo
    {
        get
        {
            var active = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToList();
            return active.Count > 0 && active.Min()!.Equals(silo.SiloAddress);
        }
    }
}
