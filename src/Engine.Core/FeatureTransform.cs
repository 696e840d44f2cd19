namespace Engine.Core;

/// <summary>
/// log1p on heavy-tailed features before scaling, so one whale does not stretch a whole axis. Sign-preserving
/// (sign(x)·log1p(|x|)) because monetary turns negative when refunds exceed purchases.
/// </summary>
public static class FeatureTransform
{
    /// <summary>Per feature in <see cref="FeatureNames.All"/> order: true where log1p applies (everything but the two rates).</summary>
    public static readonly bool[] LogTransformed = FeatureNames.All
        .Select(n => n is not (FeatureNames.CartAbandonRate90d or FeatureNames.RefundRate))
        .ToArray();

    /// <summary>
    /// Original units to the transformed (still unscaled) space that the scaler and k-means see. Total: any input gives
    /// a finite value within ±<see cref="Finite.TransformedLimit"/> (NaN counts as 0, infinity as the limit).
    /// </summary>
    public static void Forward(ReadOnlySpan<double> raw, Span<float> transformed)
    {
        for (var j = 0; j < raw.Length; j++)
        {
            transformed[j] = (float)Forward(j, raw[j]);
        }
    }

    /// <summary><see cref="Forward(ReadOnlySpan{double}, Span{float})"/> of feature <paramref name="j"/> alone, in double.</summary>
    public static double Forward(int j, double v)
    {
        v = double.IsNaN(v) ? 0 : v;
        var t = LogTransformed[j] ? Math.Sign(v) * Math.Log(1 + Math.Abs(v)) : v;
        return Math.Clamp(t, -Finite.TransformedLimit, Finite.TransformedLimit);
    }

    /// <summary>Exact inverse of <see cref="Forward"/> (sign-preserving expm1), to report centroids in original units.</summary>
    public static void Inverse(ReadOnlySpan<double> transformed, Span<double> raw)
    {
        for (var j = 0; j < transformed.Length; j++)
        {
            // Clamped: a centroid at the top of log1p's range would come back as infinity.
            raw[j] = Finite.Clamp(LogTransformed[j] ? Math.Sign(transformed[j]) * (Math.Exp(Math.Abs(transformed[j])) - 1) : transformed[j]);
        }
    }
}
