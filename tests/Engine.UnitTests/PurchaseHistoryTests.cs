using Engine.Core.Clv;

namespace Engine.UnitTests;

/// <summary>The profile's repeat-buying history against the definitions computed directly from the purchases.</summary>
public sealed class PurchaseHistoryTests
{
    [Fact]
    public void Profiles_fed_the_sample_give_the_direct_summaries_and_survive_a_checkpoint()
    {
        var end = CdnowPaperSample.CalibrationEnd;
        var expected = CdnowPaperSample.Summaries(end);
        var rng = new Random(7);
        var profiles = new Dictionary<string, CustomerProfile>();
        foreach (var p in CdnowPaperSample.Purchases.Where(p => p.Day <= end).OrderBy(p => p.Day).ThenBy(_ => rng.Next()))
        {
            if (!profiles.TryGetValue(p.CustomerId, out var profile))
            {
                profiles[p.CustomerId] = profile = new CustomerProfile();
            }
            profile.Apply(EventKind.Purchase, p.Day.ToDateTime(new TimeOnly(rng.Next(24), 0), DateTimeKind.Utc), p.Amount, null);
        }
        var asOf = end.ToDateTime(new TimeOnly(18, 0), DateTimeKind.Utc);
        Assert.Equal(expected.Count, profiles.Count);
        foreach (var (id, profile) in profiles)
        {
            var restored = CustomerProfile.FromBytes(profile.ToBytes());
            foreach (var actual in new[] { profile.PurchaseHistory!.Value.At(asOf), restored.PurchaseHistory!.Value.At(asOf) })
            {
                var e = expected[id];
                Assert.Equal(e.Frequency, actual.Frequency);
                Assert.Equal(e.Recency, actual.Recency, 12);
                Assert.Equal(e.Age, actual.Age, 12);
                Assert.Equal(e.MeanRepeatValue, actual.MeanRepeatValue, 9);
            }
        }
    }

    [Fact]
    public void Order_does_not_matter_within_the_kept_window_and_the_first_day_is_not_a_repeat()
    {
        var t0 = new DateTime(2024, 3, 1, 12, 0, 0, DateTimeKind.Utc);
        (int Day, double Amount)[] purchases = [(0, 10), (0, 5), (3, 20), (40, 7), (40, 1), (85, 30)];
        foreach (var order in new[] { purchases, purchases.Reverse().ToArray(), [.. purchases[3..], .. purchases[..3]] })
        {
            var profile = new CustomerProfile();
            foreach (var (day, amount) in order)
            {
                profile.Apply(EventKind.Purchase, t0.AddDays(day), amount, null);
            }
            var h = profile.PurchaseHistory!.Value;
            Assert.Equal(new PurchaseHistory(h.FirstDay, h.FirstDay + 85, 4, 58), h);
            var s = h.At(t0.AddDays(99));
            Assert.Equal(new RepeatSummary(3, 85 / 7.0, 99 / 7.0, 58 / 3.0), s);
        }
    }

    [Fact]
    public void A_profile_without_purchases_has_no_history()
    {
        var profile = new CustomerProfile();
        profile.Apply(EventKind.Session, DateTime.UtcNow, 0, null);
        Assert.Null(profile.PurchaseHistory);
        Assert.Null(CustomerProfile.FromBytes(profile.ToBytes()).PurchaseHistory);
    }
}
