using System.Security.Cryptography;
using Engine.Grains;

namespace Engine.ProcessTests;

/// <summary>
/// A server started with a setting it cannot run with stops at start with one line naming the key; a store started
/// under other settings than it was written with is refused, and not a byte of it changes.
/// </summary>
[Trait("Category", "Process")]
public sealed class StartupTests
{
    /// <summary>Starts a server process that must fail; returns the one line it wrote about why.</summary>
    private static async Task<string> RefusedAsync(EngineServer config)
    {
        await using var process = new EngineProcess(config);
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(process.StartAsync);
        Assert.Contains("server exited with code 1", failure.Message);
        return Assert.Single(failure.Message.Split('\n'), line => line.StartsWith("engine: start-up failed: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_mistyped_clock_stops_the_server_at_start_naming_the_key_and_the_words_it_takes()
    {
        var line = await RefusedAsync(new EngineServer(settings: new() { ["Engine:Clock"] = "eventtime" }));
        Assert.Contains("Engine:Clock", line);
        Assert.Contains("wall, event-time", line);
    }

    [Fact]
    public async Task Settings_out_of_range_stop_the_server_at_start_each_named_on_one_line()
    {
        var line = await RefusedAsync(new EngineServer(settings: new()
        {
            ["Engine:Shards"] = "0", ["Engine:KMin"] = "9", ["Engine:KMax"] = "4", ["Engine:RetrainInterval"] = "00:00:30",
        }));
        Assert.Contains("Engine:Shards: must be 1–1024, got 0", line);
        Assert.Contains("Engine:KMin: must not be above Engine:KMax (4), got 9", line);
        Assert.Contains("Engine:RetrainInterval: must be 0 (off) or at least 00:01:00", line);
    }

    [Fact]
    public async Task A_store_started_with_another_clock_mode_or_shard_count_is_refused_and_nothing_on_disk_changes()
    {
        var server = new EngineServer();
        await server.StartAsync();
        var data = Synthetic.Generate(customers: 30, seed: 61);
        await server.IngestAllAsync(data.Events, 100);
        await server.StopAsync();
        // Closes this test process's pooled connections, as a stopped server process leaves its files.
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var before = Snapshot(server.DataDirectory);

        var wall = await RefusedAsync(new EngineServer(server.DataDirectory, new() { ["Engine:Clock"] = "wall" }));
        Assert.Contains("Engine:Clock: the data directory", wall);
        Assert.Contains("was written in event-time mode, not wall; start it with --Engine:Clock=event-time", wall);
        var shards = await RefusedAsync(new EngineServer(server.DataDirectory, new() { ["Engine:Shards"] = "4" }));
        Assert.Contains("was written with 8 shards, not 4; start it with --Engine:Shards=8", shards);
        Assert.Equal(before, Snapshot(server.DataDirectory));

        // With the settings it was written with, it starts and has everything.
        await server.StartAsync();
        Assert.Equal(data.CustomerIds.Count(), (await Population.CustomersAsync(server, data.CustomerIds)).Count);
        await server.StopAsync();
    }

    [Fact]
    public void The_store_settings_rule_names_each_conflict_and_lets_a_new_store_through()
    {
        var options = new EngineOptions { Clock = ClockMode.Wall, Shards = 8 };
        Assert.Null(StoreSettings.Conflict(new Dictionary<string, long>(), options, "store"));
        Assert.Null(StoreSettings.Conflict(StoreSettings.Of(options), options, "store"));
        var both = StoreSettings.Conflict(new Dictionary<string, long> { [StoreSettings.Clock] = (long)ClockMode.EventTime, [StoreSettings.Shards] = 16 }, options, "store");
        Assert.NotNull(both);
        Assert.Contains("Engine:Clock: the store was written in event-time mode, not wall", both);
        Assert.Contains("Engine:Shards: the store was written with 16 shards, not 8", both);
    }

    /// <summary>Every file's name and content hash.</summary>
    private static Dictionary<string, string> Snapshot(string directory) =>
        Directory.GetFiles(directory).ToDictionary(f => Path.GetFileName(f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));
}
