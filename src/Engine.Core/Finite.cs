namespace Engine.Core;

/// <summary>
/// The rules that keep every number Engine computes finite. Whatever the edge lets in, and whatever state a customer
/// can reach, no NaN or infinity may get into a feature, a model, a schedule or a response: one would poison every
/// model trained after it (see docs/input-limits.md).
/// </summary>
public static class Finite
{
    /// <summary>
    /// The bound on a transformed feature (after log1p), which is what the scaler and k-means see. The log-transformed
    /// features stay below 710 for any double; the bound caps the two untransformed rates, so that squared distances
    /// in float stay far inside float's range even on a near-zero spread.
    /// </summary>
    public const float TransformedLimit = 1e6f;

    /// <summary>Saturating sum of a running total and a non-negative amount; a NaN, infinite or negative amount adds 0.</summary>
    public static double Add(double total, double amount) =>
        double.IsFinite(amount) && amount > 0 ? Clamp(total + amount) : total;

    /// <summary>NaN → 0; ±infinity → the largest finite double of that sign; anything else unchanged.</summary>
    public static double Clamp(double v) =>
        double.IsNaN(v) ? 0 : Math.Clamp(v, double.MinValue, double.MaxValue);

    /// <summary><see cref="Clamp(double)"/> over a span, in place.</summary>
    public static void ClampAll(Span<double> values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = Clamp(values[i]);
        }
    }

    /// <summary>A double as float without overflow: NaN → 0, out of float's range → the largest finite float of that sign.</summary>
    public static float ToFloat(double v) =>
        double.IsNaN(v) ? 0f : (float)Math.Clamp(v, float.MinValue, float.MaxValue);

    /// <summary>Whether every value is a finite number.</summary>
    public static bool All(ReadOnlySpan<double> values)
    {
        foreach (var v in values)
        {
            if (!double.IsFinite(v))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Whether every value is a finite number.</summary>
    public static bool All(ReadOnlySpan<float> values)
    {
        foreach (var v in values)
        {
            if (!float.IsFinite(v))
            {
                return false;
            }
        }
        return true;
    }
}
