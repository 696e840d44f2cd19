using Engine.Core.Clv;

namespace Engine.Abstractions;

/// <summary>
/// A retrain's customer-value fit: BG/NBD and Gamma-Gamma parameters and log-likelihoods over the shards' purchase
/// histories at <see cref="AsOf"/>. Gamma-Gamma is absent (null) when fewer customers had repeat purchases than a fit needs.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.ClvFit")]
public sealed record ClvFit(
    [property: Id(0)] DateTime AsOf,
    [property: Id(1)] double R,
    [property: Id(2)] double Alpha,
    [property: Id(3)] double A,
    [property: Id(4)] double B,
    [property: Id(5)] double BgNbdLogLikelihood,
    [property: Id(6)] int BgNbdCustomers,
    [property: Id(7)] GammaGammaValues? GammaGamma)
{
    public BgNbdParameters BgNbd => new(R, Alpha, A, B);
}

[GenerateSerializer, Immutable, Alias("engine.GammaGammaValues")]
public sealed record GammaGammaValues(
    [property: Id(0)] double P,
    [property: Id(1)] double Q,
    [property: Id(2)] double Gamma,
    [property: Id(3)] double LogLikelihood,
    [property: Id(4)] int Customers)
{
    public GammaGammaParameters Parameters => new(P, Q, Gamma);
}

/// <summary>A customer's value at its as_of under a model's <see cref="ClvFit"/> (see docs/concepts.md).</summary>
[GenerateSerializer, Immutable, Alias("engine.CustomerValue")]
public sealed record CustomerValue(
    [property: Id(0)] double PAlive,
    [property: Id(1)] double ExpectedPurchases,
    [property: Id(2)] double ExpectedOrderValue)
{
    public double ChurnRisk => 1 - PAlive;

    public double Clv => ExpectedPurchases * ExpectedOrderValue;

    /// <summary>The closed forms at the fit's parameters; without a Gamma-Gamma fit the order value is 0.</summary>
    public static CustomerValue? Of(ClvFit fit, PurchaseHistory history, DateTime asOfUtc, double horizonWeeks)
    {
        var s = history.At(asOfUtc);
        var p = fit.BgNbd;
        var orderValue = fit.GammaGamma is { } gg ? GammaGamma.ExpectedOrderValue(gg.Parameters, s.Frequency, s.MeanRepeatValue) : 0;
        var alive = BgNbd.PAlive(p, s.Frequency, s.Recency, s.Age);
        var purchases = BgNbd.ExpectedPurchases(p, s.Frequency, s.Recency, s.Age, horizonWeeks);
        // A fit on a degenerate population (extreme amounts, a ≈ 1) can leave the closed forms undefined for some
        // histories: such a customer gets none (its fields 0, as without a fit), never NaN or infinity.
        return double.IsFinite(alive) && double.IsFinite(purchases) && double.IsFinite(orderValue)
            ? new CustomerValue(Math.Clamp(alive, 0, 1), purchases, orderValue)
            : null;
    }
}
