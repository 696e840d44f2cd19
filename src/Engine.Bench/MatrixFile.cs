namespace Engine.Bench;

/// <summary>
/// The benchmark matrix format: int32 rows, int32 cols (little-endian), then rows × cols float32, row-major.
/// </summary>
public static class MatrixFile
{
    public static (float[] Data, int Rows, int Cols) Read(string path)
    {
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        var rows = reader.ReadInt32();
        var cols = reader.ReadInt32();
        if (rows <= 0 || cols <= 0 || stream.Length != 8 + (long)rows * cols * 4)
        {
            throw new InvalidDataException($"{path}: header says {rows} × {cols}, file has {stream.Length} bytes.");
        }
        var data = new float[(long)rows * cols];
        stream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
        return (data, rows, cols);
    }

    public static void Write(string path, float[] data, int rows, int cols)
    {
        using var stream = File.Create(path);
        using var writer = new BinaryWriter(stream);
        writer.Write(rows);
        writer.Write(cols);
        writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
    }

    /// <summary>
    /// Draws rows from a Gaussian mixture whose component means are close enough that components overlap (unit
    /// variance, means uniform in a cube of side <paramref name="spread"/>), with unequal weights.
    /// </summary>
    public static float[] GaussianMixture(int rows, int cols, int components, double spread, int seed)
    {
        var rng = new Random(seed);
        var means = Enumerable.Range(0, components).Select(_ => Enumerable.Range(0, cols).Select(_ => (rng.NextDouble() - 0.5) * spread).ToArray()).ToArray();
        var weights = Enumerable.Range(0, components).Select(_ => 0.5 + rng.NextDouble()).ToArray();
        var total = weights.Sum();
        var data = new float[(long)rows * cols];
        for (var i = 0; i < rows; i++)
        {
            var pick = rng.NextDouble() * total;
            var c = 0;
            while (c < components - 1 && (pick -= weights[c]) > 0)
            {
                c++;
            }
            for (var j = 0; j < cols; j++)
            {
                data[(long)i * cols + j] = (float)(means[c][j] + Gaussian(rng));
            }
        }
        return data;
    }

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
