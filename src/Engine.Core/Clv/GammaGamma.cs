using MathNet.Numerics;

namespace Engine.Core.Clv;

/// <summary>
/// Gamma-Gamma parameters: a transaction's value ~ Gamma(shape p, rate ν) with ν ~ Gamma(shape q, rate γ).
/// </summary>
public readonly record struct GammaGammaParameters(double P, double Q, double Gamma)
{
    public bool IsValid => P > 0 && Q > 0 && Gamma > 0
        && double.IsFinite(P) && double.IsFinite(Q) && double.IsFinite(Gamma);

    /// <summary>The population mean transaction value pγ/(q − 1); infinite for q ≤ 1.</summary>
    public double PopulationMean => Q > 1 ? P * Gamma / (Q - 1) : double.PositiveInfinity;
}

public readonly record struct GammaGammaFit(GammaGammaParameters Parameters, double LogLikelihood, int Customers);

/// <summary>
/// The Gamma-Gamma model of spend per transaction (Fader and Hardie, "The Gamma-Gamma Model of Monetary Value",
/// 2013): fitted on customers with x &gt; 0 repeat transactions of mean value m &gt; 0.
/// </summary>
public static class GammaGamma
{
    /// <summary>One customer's log-likelihood of its mean m over x transactions.</summary>
    public static double LogLikelihood(GammaGammaParameters g, int x, double m)
    {
        var (p, q, gamma) = (g.P, g.Q, g.Gamma);
        return SpecialFunctions.GammaLn(p * x + q) - SpecialFunctions.GammaLn(p * x) - SpecialFunctions.GammaLn(q)
            + q * Math.Log(gamma) + (p * x - 1) * Math.Log(m) + p * x * Math.Log(x)
            - (p * x + q) * Math.Log(gamma + m * x);
    }

    public static double LogLikelihood(GammaGammaParameters g, IReadOnlyList<WeightedSummary> data)
    {
        var total = 0.0;
        foreach (var d in data)
        {
            total += d.Weight * LogLikelihood(g, d.Summary.Frequency, d.Summary.MeanRepeatValue);
        }
        return total;
    }

    /// <summary>Maximum-likelihood estimate over the customers with x &gt; 0 and m &gt; 0; null when too few.</summary>
    public static GammaGammaFit? Fit(IEnumerable<RepeatSummary> customers)
    {
        var data = WeightedSummary.Group(
            customers.Where(c => c.Frequency > 0 && c.MeanRepeatValue > 0 && double.IsFinite(c.MeanRepeatValue)),
            withValue: true);
        var n = data.Sum(d => d.Weight);
        if (n < BgNbd.MinimumCustomers)
        {
            return null;
        }
        var best = LogSpaceOptimizer.Maximize(v => LogLikelihood(FromLog(v), data), [0.0, 0.0, 0.0]);
        if (best is null)
        {
            return null;
        }
        var parameters = FromLog(best.Value.Point);
        return parameters.IsValid ? new GammaGammaFit(parameters, best.Value.Value, (int)n) : null;
    }

    private static GammaGammaParameters FromLog(double[] v) => new(Math.Exp(v[0]), Math.Exp(v[1]), Math.Exp(v[2]));

    /// <summary>
    /// E[M | x, m] = (p(γ + x·m)) / (p·x + q − 1): the customer's expected transaction value, its own mean shrunk
    /// toward the population's. A customer without repeat transactions gets the population mean pγ/(q − 1).
    /// </summary>
    public static double ExpectedOrderValue(GammaGammaParameters g, int x, double m)
    {
        if (x <= 0 || !(m > 0))
        {
            return g.PopulationMean;
        }
        return g.P * (g.Gamma + x * m) / (g.P * x + g.Q - 1);
    }
}
