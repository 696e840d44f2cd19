using MathNet.Numerics;

namespace Engine.Core.Clv;

/// <summary>BG/NBD parameters: purchase rate λ ~ Gamma(shape r, rate α); drop-out probability p ~ Beta(a, b).</summary>
public readonly record struct BgNbdParameters(double R, double Alpha, double A, double B)
{
    public bool IsValid => R > 0 && Alpha > 0 && A > 0 && B > 0
        && double.IsFinite(R) && double.IsFinite(Alpha) && double.IsFinite(A) && double.IsFinite(B);
}

/// <summary>A maximum-likelihood fit: the parameters and the log-likelihood of the data at them.</summary>
public readonly record struct BgNbdFit(BgNbdParameters Parameters, double LogLikelihood, int Customers);

/// <summary>
/// The BG/NBD model of repeat buying (Fader, Hardie and Lee 2005, "Counting your customers the easy way"): its
/// log-likelihood, maximum-likelihood fit, the probability a customer is still alive, and the expected number of
/// purchases over the next t weeks. Time is in weeks throughout.
/// </summary>
public static class BgNbd
{
    /// <summary>One customer's log-likelihood, equation (6) of the paper.</summary>
    public static double LogLikelihood(BgNbdParameters p, int x, double tx, double T)
    {
        var (r, alpha, a, b) = (p.R, p.Alpha, p.A, p.B);
        var a1 = SpecialFunctions.GammaLn(r + x) - SpecialFunctions.GammaLn(r) + r * Math.Log(alpha);
        var a2 = SpecialFunctions.GammaLn(a + b) + SpecialFunctions.GammaLn(b + x)
            - SpecialFunctions.GammaLn(b) - SpecialFunctions.GammaLn(a + b + x);
        var a3 = -(r + x) * Math.Log(alpha + T);
        if (x == 0)
        {
            return a1 + a2 + a3;
        }
        var a4 = Math.Log(a) - Math.Log(b + x - 1) - (r + x) * Math.Log(alpha + tx);
        var max = Math.Max(a3, a4);
        return a1 + a2 + max + Math.Log(Math.Exp(a3 - max) + Math.Exp(a4 - max));
    }

    /// <summary>Sum of the customers' log-likelihoods, each distinct history weighted by how many customers share it.</summary>
    public static double LogLikelihood(BgNbdParameters p, IReadOnlyList<WeightedSummary> data)
    {
        var total = 0.0;
        foreach (var d in data)
        {
            total += d.Weight * LogLikelihood(p, d.Summary.Frequency, d.Summary.Recency, d.Summary.Age);
        }
        return total;
    }

    /// <summary>
    /// Maximum-likelihood estimate over the customers' summaries (customers with T = 0 carry no information and are
    /// left out). Null when fewer than <see cref="MinimumCustomers"/> remain or the optimiser finds no finite optimum.
    /// </summary>
    public static BgNbdFit? Fit(IEnumerable<RepeatSummary> customers)
    {
        var data = WeightedSummary.Group(customers.Where(c => c.Age > 0), withValue: false);
        var n = data.Sum(d => d.Weight);
        if (n < MinimumCustomers)
        {
            return null;
        }
        var best = LogSpaceOptimizer.Maximize(
            v => LogLikelihood(FromLog(v), data),
            [0.0, 0.0, 0.0, 0.0]);
        if (best is null)
        {
            return null;
        }
        var parameters = FromLog(best.Value.Point);
        return parameters.IsValid ? new BgNbdFit(parameters, best.Value.Value, (int)n) : null;
    }

    /// <summary>Fewest customers a fit is attempted on: four parameters need more than a handful of histories.</summary>
    public const int MinimumCustomers = 10;

    private static BgNbdParameters FromLog(double[] v) =>
        new(Math.Exp(v[0]), Math.Exp(v[1]), Math.Exp(v[2]), Math.Exp(v[3]));

    /// <summary>
    /// P(alive | x, t_x, T), equation (11): 1 / (1 + δ(x &gt; 0) · a / (b + x − 1) · ((α + T)/(α + t_x))^(r + x)).
    /// A customer without repeat purchases is alive under this model until shown otherwise.
    /// </summary>
    public static double PAlive(BgNbdParameters p, int x, double tx, double T)
    {
        if (x == 0)
        {
            return 1.0;
        }
        var logOdds = Math.Log(p.A) - Math.Log(p.B + x - 1) + (p.R + x) * (Math.Log(p.Alpha + T) - Math.Log(p.Alpha + tx));
        return 1.0 / (1.0 + Math.Exp(logOdds));
    }

    /// <summary>
    /// E[Y(t) | x, t_x, T], equation (10), the expected purchases in the next t weeks. The ₂F₁ factor is taken
    /// through Euler's transformation, so that with z = t/(α + T + t)
    /// 1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z) = 1 − (1−z)^(a−1) ₂F₁(a+b−r−1, a−1; a+b+x−1; z):
    /// the transformed series has bounded terms whatever x is, where the original one overflows for heavy buyers.
    /// Needs a &gt; 1 for a finite population mean; for a ≤ 1 the closed form still holds conditionally.
    /// </summary>
    public static double ExpectedPurchases(BgNbdParameters p, int x, double tx, double T, double t)
    {
        if (t <= 0)
        {
            return 0.0;
        }
        var (r, alpha, a, b) = (p.R, p.Alpha, p.A, p.B);
        var z = t / (alpha + T + t);
        var c = a + b + x - 1;
        var hyp = Hypergeometric.F21(a + b - r - 1, a - 1, c, z);
        var second = 1.0 - Math.Exp((a - 1) * Math.Log(1 - z)) * hyp;
        // (a + b + x − 1)/(a − 1) · second: for a → 1 both factors vanish together; keep the division as written,
        // a fitted a equal to 1 to the last bit is not a case that occurs.
        var numerator = c / (a - 1) * second;
        var denominator = x > 0
            ? 1.0 + Math.Exp(Math.Log(a) - Math.Log(b + x - 1) + (r + x) * (Math.Log(alpha + T) - Math.Log(alpha + tx)))
            : 1.0;
        return numerator / denominator;
    }
}
