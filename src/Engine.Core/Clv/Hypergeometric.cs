namespace Engine.Core.Clv;

/// <summary>The Gauss hypergeometric function ₂F₁(a, b; c; z) for 0 ≤ z &lt; 1, by its power series.</summary>
public static class Hypergeometric
{
    private const int MaxTerms = 1_000_000;

    /// <summary>
    /// Σₙ (a)ₙ(b)ₙ / ((c)ₙ n!) zⁿ, summed until a term no longer moves the sum. The caller keeps the arguments where
    /// the terms stay bounded (see <see cref="BgNbd.ExpectedPurchases"/>, which uses Euler's transformation for that).
    /// </summary>
    public static double F21(double a, double b, double c, double z)
    {
        if (z < 0 || z >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(z), z, "The series is used for 0 ≤ z < 1 only.");
        }
        var term = 1.0;
        var sum = 1.0;
        for (var n = 0; n < MaxTerms; n++)
        {
            term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z;
            sum += term;
            if (Math.Abs(term) <= 1e-17 * Math.Abs(sum))
            {
                return sum;
            }
        }
        return sum;
    }
}
