using Engine.Core.Clv;

namespace Engine.UnitTests;

/// <summary>
/// Per-customer p_alive and expected purchases of <see cref="BgNbd"/> (Euler-transformed ₂F₁) against independent
/// implementations: the paper's equations (10) and (11) written out with the untransformed series for every
/// customer of the CDNOW sample, and the model's definition integrated numerically over (λ, p) for a few.
/// </summary>
public sealed class ClvClosedFormTests
{
    private static readonly Lazy<(BgNbdParameters Parameters, Dictionary<string, RepeatSummary> Customers)> Fitted = new(() =>
    {
        var customers = CdnowPaperSample.Summaries(CdnowPaperSample.CalibrationEnd);
        return (BgNbd.Fit(customers.Values)!.Value.Parameters, customers);
    });

    [Theory]
    [InlineData(39.0)]
    [InlineData(52.0)]
    public void Every_customer_matches_the_papers_equations(double horizon)
    {
        var (p, customers) = Fitted.Value;
        foreach (var (id, c) in customers)
        {
            var aliveOdds = c.Frequency > 0
                ? p.A / (p.B + c.Frequency - 1) * Math.Pow((p.Alpha + c.Age) / (p.Alpha + c.Recency), p.R + c.Frequency)
                : 0.0;
            var pAlive = 1.0 / (1.0 + aliveOdds);
            var z = horizon / (p.Alpha + c.Age + horizon);
            var hyp = PlainSeries(p.R + c.Frequency, p.B + c.Frequency, p.A + p.B + c.Frequency - 1, z);
            var expected = (p.A + p.B + c.Frequency - 1) / (p.A - 1)
                * (1 - Math.Pow((p.Alpha + c.Age) / (p.Alpha + c.Age + horizon), p.R + c.Frequency) * hyp)
                / (1 + aliveOdds);

            Assert.True(Math.Abs(BgNbd.PAlive(p, c.Frequency, c.Recency, c.Age) - pAlive) <= 1e-12, $"p_alive of {id}");
            var actual = BgNbd.ExpectedPurchases(p, c.Frequency, c.Recency, c.Age, horizon);
            Assert.True(Math.Abs(actual - expected) <= 1e-9 * Math.Max(1, expected), $"expected purchases of {id}: {actual} vs {expected}");
        }
    }

    [Fact]
    public void A_few_customers_match_numerical_integration_of_the_model()
    {
        var (p, customers) = Fitted.Value;
        // One customer per repeat count 0, 1, 2, 4, 7 and the heaviest buyer: different shapes of the posterior.
        var picks = customers.Values.GroupBy(c => c.Frequency).OrderBy(g => g.Key)
            .Where(g => g.Key is 0 or 1 or 2 or 4 or 7).Select(g => g.First())
            .Append(customers.Values.MaxBy(c => c.Frequency)).ToList();
        Assert.Equal(6, picks.Count);
        foreach (var c in picks)
        {
            var (pAlive, expected) = Integrate(p, c, 52.0);
            Assert.True(Math.Abs(BgNbd.PAlive(p, c.Frequency, c.Recency, c.Age) - pAlive) <= 1e-4, $"p_alive {c}: {pAlive}");
            var actual = BgNbd.ExpectedPurchases(p, c.Frequency, c.Recency, c.Age, 52.0);
            Assert.True(Math.Abs(actual - expected) <= 1e-4 * Math.Max(1, expected), $"E[Y] {c}: {actual} vs {expected}");
        }
    }

    [Fact]
    public void Expected_order_value_shrinks_the_customers_mean_toward_the_population_mean()
    {
        var g = new GammaGammaParameters(6.25, 3.74, 15.44);
        Assert.Equal(6.25 * 15.44 / 2.74, GammaGamma.ExpectedOrderValue(g, 0, 0), 12);
        // Weighted average of the population mean and the customer's mean, weight p·x/(p·x + q − 1) on its own.
        var x = 3;
        var m = 40.0;
        var weight = g.P * x / (g.P * x + g.Q - 1);
        Assert.Equal((1 - weight) * g.PopulationMean + weight * m, GammaGamma.ExpectedOrderValue(g, x, m), 9);
    }

    private static double PlainSeries(double a, double b, double c, double z)
    {
        double sum = 1, term = 1;
        for (var n = 0; n < 100_000 && Math.Abs(term) > 1e-18 * Math.Abs(sum); n++)
        {
            term *= (a + n) / (c + n) * (b + n) / (n + 1) * z;
            sum += term;
        }
        return sum;
    }

    /// <summary>
    /// The model's definition: λ ~ Gamma(r, α), p ~ Beta(a, b); likelihood alive (1−p)^x λ^x e^(−λT) plus dropped
    /// after the last purchase p(1−p)^(x−1) λ^x e^(−λ t_x); given alive, E[purchases in t] = (1 − e^(−λpt))/p.
    /// Substitutions v = λ^r and s = p^a remove the prior's singularities at 0; Simpson's rule on a fine grid.
    /// </summary>
    private static (double PAlive, double Expected) Integrate(BgNbdParameters p, RepeatSummary c, double t)
    {
        const int n = 1600;
        var x = c.Frequency;
        var lambdaMax = (x + 60 + 12 * Math.Sqrt(x + 1)) / (p.Alpha + c.Recency);
        var vMax = Math.Pow(lambdaMax, p.R);
        // Integrand's exponent peaks at λ = x/(α + t_x); shift by the log-peak to stay in range.
        var shift = x > 0 ? x * Math.Log(x / (p.Alpha + c.Recency)) - x : 0;
        double alive = 0, dead = 0, future = 0;
        for (var i = 0; i <= n; i++)
        {
            var v = vMax * i / n;
            var lambda = Math.Pow(v, 1 / p.R);
            var wi = Simpson(i, n) * vMax / n / 3;
            // j = n (p = 1) contributes 0: the Beta prior's (1 − p)^(b−1) vanishes there for b > 1.
            for (var j = 0; j < n; j++)
            {
                var s = (double)j / n;
                var drop = Math.Pow(s, 1 / p.A);
                var wj = Simpson(j, n) / n / 3;
                var prior = Math.Exp(-p.Alpha * lambda + (p.B - 1) * Log1m(drop)) * wi * wj;
                var logLambdaX = x > 0 ? x * Math.Log(Math.Max(lambda, 1e-300)) - shift : -shift;
                var la = Math.Exp(x * Log1m(drop) + logLambdaX - lambda * c.Age);
                var ld = x > 0 ? drop * Math.Exp((x - 1) * Log1m(drop) + logLambdaX - lambda * c.Recency) : 0;
                var perAlive = drop > 0 ? -double.ExpM1(-lambda * drop * t) / drop : lambda * t;
                alive += prior * la;
                dead += prior * ld;
                future += prior * la * perAlive;
            }
        }
        return (alive / (alive + dead), future / (alive + dead));
    }

    private static double Simpson(int i, int n) => i == 0 || i == n ? 1 : i % 2 == 1 ? 4 : 2;

    private static double Log1m(double p) => p >= 1 ? double.NegativeInfinity : Math.Log(1 - p);
}
