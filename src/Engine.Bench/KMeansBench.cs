using System.CommandLine;
using System.Diagnostics;
using Engine.Abstractions;
using Engine.Core;
using Engine.Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;

namespace Engine.Bench;

/// <summary>
/// `engine-bench kmeans --matrix FILE --k K`: the engine's distributed k-means (the same coordinator and shard grains
/// as a retrain, in a local silo) on a float32 matrix, and ML.NET's KMeans on the same rows in the same run.
/// Inertia is computed the same way for both (sum of squared distances to the nearest centroid, in double).
/// </summary>
public static class KMeansBench
{
    public static Command Create()
    {
        var matrix = new Option<FileInfo>("--matrix") { Description = "Matrix file: int32 rows, int32 cols, rows × cols float32", Required = true };
        var k = new Option<int>("--k") { Description = "Clusters", DefaultValueFactory = _ => 8 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1 };
        var shards = new Option<int>("--shards") { Description = "Shard grains (default: 2 per core)", DefaultValueFactory = _ => 2 * Environment.ProcessorCount };
        var skipMlNet = new Option<bool>("--skip-mlnet") { Description = "Do not run ML.NET" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (always on; accepted for scripts)" };
        var command = new Command("kmeans", "Time the engine's distributed k-means against ML.NET on a matrix file") { matrix, k, seed, shards, skipMlNet, json };
        command.SetAction(async (parse, ct) =>
        {
            var (data, rows, cols) = MatrixFile.Read(parse.GetValue(matrix)!.FullName);
            var kk = parse.GetValue(k);
            var engine = await RunEngineAsync(data, rows, cols, kk, parse.GetValue(shards), parse.GetValue(seed));
            object? mlnet = parse.GetValue(skipMlNet) ? null : RunMlNet(data, rows, cols, kk, parse.GetValue(seed));
            Json.Print(new
            {
                benchmark = "kmeans",
                cores = Environment.ProcessorCount,
                n = rows,
                d = cols,
                k = kk,
                seconds = Math.Round(engine.Seconds, 4),
                seed_seconds = Math.Round(engine.SeedSeconds, 4),
                inertia = engine.Inertia,
                iterations = engine.Iterations,
                shards = parse.GetValue(shards),
                load_seconds = Math.Round(engine.LoadSeconds, 3),
                mlnet,
            });
            return 0;
        });
        return command;
    }

    private sealed record EngineRun(double Seconds, double SeedSeconds, double Inertia, int Iterations, double LoadSeconds);

    private static async Task<EngineRun> RunEngineAsync(float[] data, int rows, int cols, int k, int shardCount, int seed)
    {
        await using var silo = await LocalSilo.StartAsync(shardCount);
        var load = Stopwatch.StartNew();
        var per = (rows + shardCount - 1) / shardCount;
        await Task.WhenAll(Enumerable.Range(0, shardCount).Select(s =>
        {
            var from = Math.Min(rows, s * per);
            var to = Math.Min(rows, from + per);
            return silo.Grains.GetGrain<IShardTrainingLoader>(s).LoadTrainingAsync(data[(from * cols)..(to * cols)], cols);
        }));
        load.Stop();
        IShardTraining[] shards = [.. Enumerable.Range(0, shardCount).Select(s => silo.Grains.GetGrain<IShardGrain>(s))];
        var watch = Stopwatch.StartNew();
        var fit = await ShardedKMeans.FitLoadedAsync(shards, k, cols, seed, silo.Services.GetRequiredService<IOptions<ModelOptions>>().Value);
        watch.Stop();
        return new EngineRun(watch.Elapsed.TotalSeconds, fit.SeedSeconds, Inertia(data, cols, fit.Centroids, k), fit.Iterations, load.Elapsed.TotalSeconds);
    }

    private sealed class Row
    {
        public float[] Features { get; set; } = [];
    }

    private static object RunMlNet(float[] data, int rows, int cols, int k, int seed)
    {
        var ml = new MLContext(seed);
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, cols);
        var view = ml.Data.LoadFromEnumerable(
            Enumerable.Range(0, rows).Select(i => new Row { Features = data[(i * cols)..((i + 1) * cols)] }), schema);
        view = ml.Data.Cache(view);
        var trainer = ml.Clustering.Trainers.KMeans(new KMeansTrainer.Options
        {
            FeatureColumnName = nameof(Row.Features),
            NumberOfClusters = k,
            InitializationAlgorithm = KMeansTrainer.InitializationAlgorithm.KMeansPlusPlus,
            NumberOfThreads = Environment.ProcessorCount,
        });
        // Materialise the cache before timing, so both sides are timed on data already in memory.
        using (var cursor = view.GetRowCursor(view.Schema))
        {
            while (cursor.MoveNext())
            {
            }
        }
        var watch = Stopwatch.StartNew();
        var model = trainer.Fit(view);
        watch.Stop();
        VBuffer<float>[] centroids = [];
        model.Model.GetClusterCentroids(ref centroids, out var kOut);
        var flat = centroids.Take(kOut).SelectMany(c => c.DenseValues()).ToArray();
        return new { seconds = Math.Round(watch.Elapsed.TotalSeconds, 4), inertia = Inertia(data, cols, flat, kOut) };
    }

    private static double Inertia(float[] data, int cols, float[] centroids, int k) =>
        KMeansMath.AccumulateAssign(data, cols, centroids, k, new double[k * cols], new long[k], []);
}
