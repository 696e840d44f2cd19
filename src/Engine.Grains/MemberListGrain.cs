using Engine.Abstractions;

namespace Engine.Grains;

/// <summary>A listing's snapshot of a segment's members: see <see cref="IMemberListGrain"/>. Nothing is persisted.</summary>
public sealed class MemberListGrain(ShardRouter router) : Grain, IMemberListGrain
{
    private string[]? _members;

    public async Task<int> CreateAsync(string segmentId)
    {
        var parts = await router.AskAllAsync(s => s.GetMembersAsync(segmentId));
        var members = parts.SelectMany(p => p).ToArray();
        Array.Sort(members, StringComparer.Ordinal);
        _members = members;
        return members.Length;
    }

    public Task<string[]?> PageAsync(int offset, int count) =>
        Task.FromResult(_members is { } m ? m[Math.Min(offset, m.Length)..Math.Min(m.Length, offset + count)] : null);
}
