namespace Engine.Storage;

/// <summary>
/// The database under a silo, as start-up sees it: where it is, the settings its data was written under, and its
/// schema. Settings are small numbers kept as <c>setting:&lt;name&gt;</c> in engine_meta.
/// </summary>
public interface IEngineDatabase
{
    /// <summary>Where the data is, as an operator would look for it.</summary>
    string Location { get; }

    /// <summary>The recorded settings; empty for a new store (or one written before settings were recorded). Writes nothing.</summary>
    IReadOnlyDictionary<string, long> ReadSettings();

    /// <summary>Applies the schema scripts not yet applied.</summary>
    void Migrate();

    /// <summary>Records the settings not recorded yet; a recorded one is never overwritten.</summary>
    void RecordSettings(IReadOnlyDictionary<string, long> settings);

    /// <summary>Bytes on disk per store: "log" (Engine's logs and tables) and "orleans" (grain state, membership, reminders).</summary>
    Task<IReadOnlyDictionary<string, long>> StorageBytesAsync(CancellationToken ct = default);
}

/// <summary>The engine_meta keys of recorded settings.</summary>
public static class StoreSettingKeys
{
    public const string Prefix = "setting:";
}
