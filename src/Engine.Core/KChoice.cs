namespace Engine.Core;

/// <summary>
/// Which k an automatic retrain (Retrain with k = 0) keeps: the current model's k, unless another k's mean silhouette
/// beats it by more than the switch margin. Silhouettes from samples wobble by a few hundredths between close ks;
/// without the margin, segments would appear and vanish with that noise.
/// </summary>
public static class KChoice
{
    /// <summary>
    /// The index in <paramref name="silhouettes"/> (one per k tried, in <paramref name="ks"/>) of the k to keep:
    /// the best silhouette (the smallest k among equals), replaced by <paramref name="currentK"/> when that k was
    /// tried and the best beats it by no more than <paramref name="margin"/>. No current k (0) = the best.
    /// </summary>
    public static int Choose(IReadOnlyList<int> ks, IReadOnlyList<double> silhouettes, int currentK, double margin)
    {
        if (ks.Count == 0 || ks.Count != silhouettes.Count)
        {
            throw new ArgumentException("ks: one silhouette per k, at least one k");
        }
        var best = 0;
        for (var i = 1; i < ks.Count; i++)
        {
            if (silhouettes[i] > silhouettes[best] || (silhouettes[i] == silhouettes[best] && ks[i] < ks[best]))
            {
                best = i;
            }
        }
        for (var i = 0; i < ks.Count; i++)
        {
            if (ks[i] == currentK && currentK != 0)
            {
                return silhouettes[best] - silhouettes[i] > margin ? best : i;
            }
        }
        return best;
    }
}
