using CsCheck;
using Engine.Core;
using Xunit.Abstractions;

namespace Engine.UnitTests;

/// <summary>
/// Property-based: whatever events the edge lets in (amounts from 0 to double's largest, subnormals and -0 included,
/// times from 1970 to a day past now) and whatever state a customer reaches with them, the model math stays finite:
/// features, the transform, the scaler, k-means, silhouette, PSI, soft membership, drivers and the back-transform.
/// The counterexamples it found are kept below as plain tests.
/// </summary>
[Trait("Category", "Unit")]
public sealed class FiniteMathProperties(ITestOutputHelper output)
{
    private static readonly DateTime Earliest = DateTime.UnixEpoch;
    private static readonly DateTime Latest = DateTime.UtcNow.AddDays(1);

    /// <summary>Amounts the validator accepts with Engine:MaxAmount raised to double's largest: the worst it can be.</summary>
    private static readonly Gen<double> Amount = Gen.Frequency(
        (4, Gen.Double[0, 1000]),
        (2, Gen.OneOf(0.0, -0.0, double.Epsilon, 1e-310, 2.2250738585072014E-308, 1e-300, 1, 1e9, 1e15, 1e300, double.MaxValue / 2, double.MaxValue)),
        (1, Gen.Double.Where(double.IsFinite).Select(Math.Abs)));

    private static readonly Gen<DateTime> Time = Gen.Frequency(
        (4, Gen.Long[new DateTime(1997, 1, 1).Ticks, new DateTime(1998, 7, 1).Ticks]),
        (1, Gen.OneOf(Earliest.Ticks, Earliest.Ticks + 1, Latest.Ticks, Latest.Ticks - 1)),
        (1, Gen.Long[Earliest.Ticks, Latest.Ticks]))
        .Select(t => new DateTime(t, DateTimeKind.Utc));

    private static readonly Gen<(EventKind Kind, DateTime At, double Amount, string? Category)> Event =
        Gen.Select(Gen.Enum<EventKind>().Where(k => k != EventKind.Unspecified), Time, Amount,
            Gen.OneOf<string?>(null, "", "a", "b", new string('c', 256)));

    private static readonly Gen<CustomerProfile> Profile = Event.Array[1, 12].Select(events =>
    {
        var p = new CustomerProfile();
        foreach (var e in events)
        {
            p.Apply(e.Kind, e.At, e.Amount, e.Category);
        }
        return p;
    });

    [Fact]
    public void A_profile_has_finite_features_at_any_time_and_keeps_them_through_its_checkpoint()
    {
        Gen.Select(Profile, Time).Sample((profile, asOf) =>
        {
            var raw = new double[FeatureNames.Count];
            profile.ComputeFeatures(asOf, raw);
            Assert.True(Finite.All(raw), string.Join(", ", raw));
            var rfm = profile.ComputeRfm(asOf);
            Assert.True(double.IsFinite(rfm.RecencyDays) && double.IsFinite(rfm.Monetary));
            var transformed = new float[raw.Length];
            FeatureTransform.Forward(raw, transformed);
            Assert.True(Finite.All(transformed));
            Assert.All(transformed, v => Assert.InRange(v, -Finite.TransformedLimit, Finite.TransformedLimit));

            var again = new double[raw.Length];
            CustomerProfile.FromBytes(profile.ToBytes()).ComputeFeatures(asOf, again);
            Assert.Equal(raw, again);
        }, iter: 20_000, writeLine: output.WriteLine);
    }

    [Fact]
    public void A_population_of_any_such_customers_trains_scores_and_reports_finite_numbers()
    {
        Gen.Select(Profile.Array[2, 40], Gen.Int[1, 6], Time).Sample((profiles, k, asOf) =>
        {
            const int d = 11;
            var rows = new float[profiles.Length * d];
            var raw = new double[d];
            for (var i = 0; i < profiles.Length; i++)
            {
                profiles[i].ComputeFeatures(asOf, raw);
                FeatureTransform.Forward(raw, rows.AsSpan(i * d, d));
            }
            var scaler = Scaler.Fit(rows, d);
            Assert.True(Finite.All(scaler.Mean) && Finite.All(scaler.Std));
            scaler.Transform(rows);
            Assert.True(Finite.All(rows));

            k = Math.Min(k, profiles.Length);
            var fit = KMeansMath.Fit(rows, d, k, maxIterations: 50, tolerance: 1e-4, seed: 7);
            Assert.True(Finite.All(fit.Centroids), "centroids");
            Assert.True(double.IsFinite(fit.Inertia), $"inertia {fit.Inertia}");
            Assert.True(double.IsFinite(Silhouette.Compute(rows, fit.Assignments, d, k)));

            for (var i = 0; i < profiles.Length; i++)
            {
                var x = rows.AsSpan(i * d, d);
                var m = SoftMembership.Of(x, fit.Centroids, k, temperature: 1.0);
                Assert.True(double.IsFinite(m.Distance) && double.IsFinite(m.Confidence), $"membership {m}");
                var other = (m.Index + 1) % k;
                Assert.All(Explanation.Drivers(x, fit.Centroids.AsSpan(other * d, d), fit.Centroids.AsSpan(m.Index * d, d), top: 3),
                    c => Assert.True(double.IsFinite(c.Contribution)));
            }
            for (var j = 0; j < d; j++)
            {
                var column = Enumerable.Range(0, profiles.Length).Select(i => (double)rows[i * d + j]).ToArray();
                var edges = Psi.QuantileEdges(column, 10);
                var counts = new long[edges.Length + 1];
                foreach (var v in column)
                {
                    counts[Psi.BinOf(edges, v)]++;
                }
                Assert.True(double.IsFinite(Psi.Compute(Psi.Shares(counts), Psi.Shares(counts.Reverse().ToArray()))));
            }
            var unscaled = new double[fit.Centroids.Length];
            scaler.Inverse(fit.Centroids, unscaled);
            var original = new double[d];
            for (var c = 0; c < k; c++)
            {
                FeatureTransform.Inverse(unscaled.AsSpan(c * d, d), original);
                Assert.True(Finite.All(original), "centroid in original units");
            }
        }, iter: 3_000, writeLine: output.WriteLine);
    }

    // Counterexamples, kept as plain tests.

    [Fact]
    public void Purchases_summing_past_doubles_range_saturate_and_a_refund_of_as_much_leaves_finite_features()
    {
        var p = new CustomerProfile();
        var at = new DateTime(1997, 6, 1, 0, 0, 0, DateTimeKind.Utc);
        p.Apply(EventKind.Purchase, at, double.MaxValue, null);
        p.Apply(EventKind.Purchase, at, double.MaxValue, null);
        p.Apply(EventKind.Refund, at, double.MaxValue, null);
        var raw = new double[FeatureNames.Count];
        p.ComputeFeatures(at, raw);
        Assert.True(Finite.All(raw));
        Assert.Equal(double.MaxValue, p.PurchaseAmount);
        Assert.Equal(0, p.ComputeRfm(at).Monetary);
        Assert.Equal(1, raw[FeatureNames.IndexOf(FeatureNames.RefundRate)]);
    }

    [Fact]
    public void A_refund_of_doubles_largest_after_a_subnormal_purchase_has_a_finite_capped_refund_rate()
    {
        var p = new CustomerProfile();
        var at = new DateTime(1997, 6, 1, 0, 0, 0, DateTimeKind.Utc);
        p.Apply(EventKind.Purchase, at, double.Epsilon, null);
        p.Apply(EventKind.Refund, at, double.MaxValue, null);
        var raw = new double[FeatureNames.Count];
        p.ComputeFeatures(at, raw);
        Assert.True(Finite.All(raw));
        var x = new float[raw.Length];
        FeatureTransform.Forward(raw, x);
        Assert.Equal(Finite.TransformedLimit, x[FeatureNames.IndexOf(FeatureNames.RefundRate)]);
    }

    [Fact]
    public void The_transform_is_total_and_its_inverse_never_overflows()
    {
        double[] raw = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.MaxValue, -double.MaxValue, 0, -0.0, 1e-310, 5, 0.5, 1e300];
        var x = new float[raw.Length];
        FeatureTransform.Forward(raw, x);
        Assert.True(Finite.All(x));
        Assert.Equal(0f, x[0]);
        var back = new double[raw.Length];
        FeatureTransform.Inverse(x.Select(v => (double)v).ToArray(), back);
        Assert.True(Finite.All(back));
    }
}
