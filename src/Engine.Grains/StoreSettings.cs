namespace Engine.Grains;

/// <summary>
/// The settings a store's data is written under and that a start cannot change: the clock mode (an event-time store's
/// times are the history's, a wall-clock store's are now's) and the shard count (every shard checkpoint and every
/// customer's shard follow it). A store records them at its first start; a later start with other values is refused
/// before anything is written, with what the store was written with and how to proceed.
/// </summary>
public static class StoreSettings
{
    public const string Clock = "clock";
    public const string Shards = "shards";

    /// <summary>The values <paramref name="options"/> would write under.</summary>
    public static IReadOnlyDictionary<string, long> Of(EngineOptions options) => new Dictionary<string, long>
    {
        [Clock] = (long)options.Clock,
        [Shards] = options.Shards,
    };

    /// <summary>Why a start with <paramref name="options"/> must not open a store that recorded <paramref name="recorded"/>, or null.</summary>
    public static string? Conflict(IReadOnlyDictionary<string, long> recorded, EngineOptions options, string location)
    {
        var problems = new List<string>();
        if (recorded.TryGetValue(Clock, out var clock) && clock != (long)options.Clock)
        {
            var written = ConfigWords.Of((ClockMode)clock);
            problems.Add($"Engine:Clock: the {location} was written in {written} mode, not {ConfigWords.Of(options.Clock)}; start it with " +
                $"--Engine:Clock={written}, or give the {ConfigWords.Of(options.Clock)}-mode store a data directory or database of its own");
        }
        if (recorded.TryGetValue(Shards, out var shards) && shards != options.Shards)
        {
            problems.Add($"Engine:Shards: the {location} was written with {shards} shards, not {options.Shards}; start it with " +
                $"--Engine:Shards={shards} (another shard count needs a new store, with the events imported again)");
        }
        return problems.Count == 0 ? null : string.Join("; ", problems) + ". Nothing was changed.";
    }
}

/// <summary>A start refused because the store was written under other settings (<see cref="StoreSettings"/>).</summary>
public sealed class StoreSettingsException(string message) : Exception(message);
