using Engine.Abstractions;
using Engine.Grains;

namespace Engine.Tests;

public class ShardMatrixTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private static ShardRow Row(string segment, long lastSeq, long transitions, double minutes) =>
        new("c1", new float[ShardMatrix.D], T0.AddMinutes(minutes), segment, null, lastSeq, transitions);

    [Fact]
    public void A_row_that_arrives_after_a_newer_one_is_dropped()
    {
        var m = new ShardMatrix();
        Assert.True(m.Upsert(Row("s1", lastSeq: 10, transitions: 1, minutes: 1)));
        Assert.True(m.Upsert(Row("s2", lastSeq: 20, transitions: 2, minutes: 2)));
        // Published by another silo before the row above, delivered after it.
        Assert.False(m.Upsert(Row("s1", lastSeq: 10, transitions: 1, minutes: 1)));
        Assert.Equal("s2", m.SegmentAt(0));
        Assert.Equal(T0.AddMinutes(2), m.AsOfAt(0));
        Assert.Equal(1, m.Counts["s2"]);
        Assert.False(m.Counts.ContainsKey("s1"));
    }

    [Fact]
    public void A_reassignment_without_new_events_is_newer_by_its_transition_count_or_time()
    {
        var m = new ShardMatrix();
        m.Upsert(Row("s1", lastSeq: 10, transitions: 1, minutes: 1));
        Assert.True(m.Upsert(Row("s2", lastSeq: 10, transitions: 2, minutes: 1)));
        Assert.True(m.Upsert(Row("s2", lastSeq: 10, transitions: 2, minutes: 5)));
        Assert.False(m.Upsert(Row("s1", lastSeq: 10, transitions: 1, minutes: 9)));
        Assert.Equal("s2", m.SegmentAt(0));
    }

    [Fact]
    public void The_order_keys_survive_a_checkpoint()
    {
        var m = new ShardMatrix();
        m.Upsert(Row("s2", lastSeq: 20, transitions: 2, minutes: 2));
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            m.WriteTo(w);
        }
        buffer.Position = 0;
        var restored = ShardMatrix.ReadFrom(new BinaryReader(buffer));
        Assert.False(restored.Upsert(Row("s1", lastSeq: 19, transitions: 5, minutes: 9)));
        Assert.True(restored.Upsert(Row("s3", lastSeq: 21, transitions: 3, minutes: 3)));
        Assert.Equal(1, restored.Counts["s3"]);
    }
}
