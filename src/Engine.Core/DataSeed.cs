namespace Engine.Core;

/// <summary>
/// A random seed that depends on the training data only, never on the clock or the model version: the same rows give
/// the same k-means++ seeding, the same samples and so the same silhouettes, so a retrain on unchanged data repeats
/// itself exactly. Built from the shards' row counts and feature moments, rounded to single precision so a different
/// summation order cannot change it; FNV-1a, stable across processes (unlike <see cref="HashCode"/>).
/// </summary>
public static class DataSeed
{
    public static int Of(IEnumerable<long> counts, IEnumerable<double> moments)
    {
        var hash = 2166136261u;
        void Mix(ulong value)
        {
            for (var b = 0; b < 8; b++)
            {
                hash = (hash ^ (byte)(value >> (8 * b))) * 16777619u;
            }
        }
        foreach (var c in counts)
        {
            Mix((ulong)c);
        }
        foreach (var m in moments)
        {
            Mix(BitConverter.SingleToUInt32Bits((float)m));
        }
        // Positive and small enough for the callers' seed arithmetic (seed * 104729 and friends wrap harmlessly).
        return (int)(hash & 0x3FFFFFFF) + 1;
    }
}
