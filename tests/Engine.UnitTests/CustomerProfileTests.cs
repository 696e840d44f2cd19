using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public sealed class CustomerProfileTests
{
    private static readonly DateTime T0 = new(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private static CustomerProfile Sample(IEnumerable<(EventKind Kind, int Day, double Amount, string? Category)> events)
    {
        var p = new CustomerProfile();
        foreach (var e in events)
        {
            p.Apply(e.Kind, T0.AddDays(e.Day).AddHours(6), e.Amount, e.Category);
        }
        return p;
    }

    private static readonly (EventKind, int, double, string?)[] Events =
    [
        (EventKind.Signup, 0, 0, null),
        (EventKind.Purchase, 10, 20.50, "rock"),
        (EventKind.Purchase, 100, 30.25, "jazz"),
        (EventKind.Purchase, 150, 49.25, "rock"),
        (EventKind.Refund, 151, 10, null),
        (EventKind.Session, 140, 0, null),
        (EventKind.Session, 125, 0, null),
        (EventKind.CartAdd, 100, 0, null),
        (EventKind.CartAdd, 149, 0, null),
        (EventKind.CartAbandon, 149, 0, null),
        (EventKind.SupportTicket, 60, 0, null),
        (EventKind.SupportTicket, 120, 0, null),
        (EventKind.PageView, 152, 0, null),
    ];

    [Fact]
    public void A_clone_keeps_its_features_while_the_original_takes_more_events_on_the_same_days()
    {
        var original = Sample(Events);
        var asOf = T0.AddDays(160);
        var before = new double[FeatureNames.Count];
        original.ComputeFeatures(asOf, before);
        var clone = original.Clone();

        // Same days as existing buckets (changed in place), a new category and a new day.
        original.Apply(EventKind.Purchase, T0.AddDays(150).AddHours(8), 100, "blues");
        original.Apply(EventKind.Session, T0.AddDays(140).AddHours(9), 0, null);
        original.Apply(EventKind.Purchase, T0.AddDays(155), 5, null);

        var fromClone = new double[FeatureNames.Count];
        clone.ComputeFeatures(asOf, fromClone);
        Assert.Equal(before, fromClone);
        Assert.Equal(13, clone.EventCount);
        Assert.Equal(2, clone.CategoryCount);
        var fromOriginal = new double[FeatureNames.Count];
        original.ComputeFeatures(asOf, fromOriginal);
        Assert.NotEqual(before, fromOriginal);
        Assert.Equal(3, original.CategoryCount);
    }

    [Fact]
    public void Every_feature_matches_a_hand_computation()
    {
        var p = Sample(Events);
        var asOf = T0.AddDays(155);
        var raw = new double[FeatureNames.Count];
        p.ComputeFeatures(asOf, raw);
        double F(string name) => raw[FeatureNames.IndexOf(name)];

        Assert.Equal(155 - 150 - 0.25, F(FeatureNames.RecencyDays), 1e-9);
        Assert.Equal(3, F(FeatureNames.Frequency));
        Assert.Equal(20.50 + 30.25 + 49.25 - 10, F(FeatureNames.Monetary), 1e-9);
        Assert.Equal((20.50 + 30.25 + 49.25) / 3, F(FeatureNames.AvgOrderValue), 1e-9);
        Assert.Equal(155 - 0.25, F(FeatureNames.TenureDays), 1e-9);
        // 90-day window at day 155 covers days 66..155: purchases on 100 and 150.
        Assert.Equal(2, F(FeatureNames.Purchases90d));
        // 30-day window covers days 126..155: the session on 140 only.
        Assert.Equal(1, F(FeatureNames.Sessions30d));
        Assert.Equal(0.5, F(FeatureNames.CartAbandonRate90d));
        Assert.Equal(1, F(FeatureNames.SupportTickets90d));
        Assert.Equal(2, F(FeatureNames.CategoryCount));
        Assert.Equal(10 / 100.0, F(FeatureNames.RefundRate), 1e-12);
        Assert.Equal(new Rfm(F(FeatureNames.RecencyDays), 3, 90), p.ComputeRfm(asOf));
        Assert.Equal(Events.Length, p.EventCount);
    }

    [Fact]
    public void Windows_include_the_last_day_and_exclude_the_day_the_window_ends()
    {
        var p = Sample([(EventKind.Purchase, 0, 1, null), (EventKind.Session, 0, 0, null)]);
        var raw = new double[FeatureNames.Count];
        p.ComputeFeatures(T0.AddDays(89), raw);
        Assert.Equal(1, raw[FeatureNames.IndexOf(FeatureNames.Purchases90d)]);
        p.ComputeFeatures(T0.AddDays(90), raw);
        Assert.Equal(0, raw[FeatureNames.IndexOf(FeatureNames.Purchases90d)]);
        p.ComputeFeatures(T0.AddDays(29), raw);
        Assert.Equal(1, raw[FeatureNames.IndexOf(FeatureNames.Sessions30d)]);
        p.ComputeFeatures(T0.AddDays(30), raw);
        Assert.Equal(0, raw[FeatureNames.IndexOf(FeatureNames.Sessions30d)]);
    }

    [Fact]
    public void The_same_events_in_any_order_give_the_same_features()
    {
        var asOf = T0.AddDays(200);
        var expected = new double[FeatureNames.Count];
        Sample(Events).ComputeFeatures(asOf, expected);
        var rng = new Random(7);
        for (var trial = 0; trial < 20; trial++)
        {
            var raw = new double[FeatureNames.Count];
            Sample(Events.OrderBy(_ => rng.Next())).ComputeFeatures(asOf, raw);
            Assert.Equal(expected, raw);
        }
    }

    [Fact]
    public void Without_purchases_recency_is_tenure_and_refunds_can_make_monetary_negative()
    {
        var browsing = Sample([(EventKind.Session, 3, 0, null)]);
        var rfm = browsing.ComputeRfm(T0.AddDays(10));
        Assert.Equal(6.75, rfm.RecencyDays, 1e-9); // events land at 06:00
        Assert.Equal(0, rfm.Frequency);

        var refunded = Sample([(EventKind.Purchase, 1, 10, null), (EventKind.Refund, 2, 25, null)]);
        Assert.Equal(-15, refunded.ComputeRfm(T0.AddDays(3)).Monetary, 1e-9);
        // An event later than as_of never gives negative recency.
        Assert.Equal(0, refunded.ComputeRfm(T0).RecencyDays);
    }

    [Fact]
    public void Old_buckets_are_pruned_but_lifetime_totals_keep_everything()
    {
        var p = new CustomerProfile();
        for (var day = 0; day < 1000; day++)
        {
            p.Apply(EventKind.Purchase, T0.AddDays(day), 1, null);
            p.Apply(EventKind.Session, T0.AddDays(day), 0, null);
        }
        // Arrives late, far older than the kept window: counted in lifetime totals, never in a window.
        p.Apply(EventKind.Purchase, T0.AddDays(-500), 2, "late");
        var raw = new double[FeatureNames.Count];
        p.ComputeFeatures(T0.AddDays(999), raw);
        Assert.Equal(1001, raw[FeatureNames.IndexOf(FeatureNames.Frequency)]);
        Assert.Equal(1002, raw[FeatureNames.IndexOf(FeatureNames.Monetary)]);
        Assert.Equal(90, raw[FeatureNames.IndexOf(FeatureNames.Purchases90d)]);
        Assert.Equal(30, raw[FeatureNames.IndexOf(FeatureNames.Sessions30d)]);
        Assert.Equal(1499, raw[FeatureNames.IndexOf(FeatureNames.TenureDays)], 1e-9);
        Assert.Equal(1, p.CategoryCount);

        // The checkpoint holds at most the 90 live day buckets (24 bytes each), not 1000.
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer))
        {
            p.WriteTo(w);
            w.Flush();
            Assert.InRange(buffer.Length, 90 * 24, 91 * 24 + 128);
        }
    }

    [Fact]
    public void Cart_abandon_rate_is_capped_and_page_views_only_touch_times_and_count()
    {
        var p = Sample([(EventKind.CartAdd, 5, 0, null), (EventKind.CartAbandon, 5, 0, null), (EventKind.CartAbandon, 6, 0, null)]);
        var raw = new double[FeatureNames.Count];
        p.ComputeFeatures(T0.AddDays(10), raw);
        Assert.Equal(1, raw[FeatureNames.IndexOf(FeatureNames.CartAbandonRate90d)]);

        var viewer = Sample([(EventKind.PageView, 2, 99, "x"), (EventKind.Signup, 1, 5, "y")]);
        viewer.ComputeFeatures(T0.AddDays(4), raw);
        Assert.Equal(2, viewer.EventCount);
        Assert.Equal(T0.AddDays(1).AddHours(6), viewer.FirstEventAt);
        Assert.Equal(T0.AddDays(2).AddHours(6), viewer.LastEventAt);
        Assert.Null(viewer.LastPurchaseAt);
        Assert.Equal(0, viewer.CategoryCount);
        var tenure = raw[FeatureNames.IndexOf(FeatureNames.TenureDays)];
        Assert.Equal(2.75, tenure, 1e-9);
        Assert.Equal(tenure, raw[FeatureNames.IndexOf(FeatureNames.RecencyDays)]);
        Assert.Equal(new double[] { 0, 0, 0, 0, 0, 0, 0, 0, 0 }, raw.Where((_, j) => j is not (0 or 4)).ToArray());

        var empty = new double[FeatureNames.Count];
        new CustomerProfile().ComputeFeatures(T0, empty);
        Assert.All(empty, v => Assert.Equal(0, v));
    }

    [Fact]
    public void The_binary_checkpoint_round_trips_every_feature()
    {
        var p = Sample(Events);
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            p.WriteTo(w);
        }
        buffer.Position = 0;
        var copy = CustomerProfile.ReadFrom(new BinaryReader(buffer));
        foreach (var day in new[] { 151, 160, 200, 400 })
        {
            var a = new double[FeatureNames.Count];
            var b = new double[FeatureNames.Count];
            p.ComputeFeatures(T0.AddDays(day), a);
            copy.ComputeFeatures(T0.AddDays(day), b);
            Assert.Equal(a, b);
        }
        Assert.Equal(p.EventCount, copy.EventCount);
        Assert.Equal(p.LastEventAt, copy.LastEventAt);
        // Applying more after the round trip behaves the same too.
        p.Apply(EventKind.Purchase, T0.AddDays(160), 5, "pop");
        copy.Apply(EventKind.Purchase, T0.AddDays(160), 5, "pop");
        var x = new double[FeatureNames.Count];
        var y = new double[FeatureNames.Count];
        p.ComputeFeatures(T0.AddDays(161), x);
        copy.ComputeFeatures(T0.AddDays(161), y);
        Assert.Equal(x, y);
    }
}
