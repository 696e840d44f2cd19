using Orleans.Storage;

namespace Engine.Storage;

/// <summary>
/// Lets one grain-state write at a time reach SQLite, queueing the rest without holding threads. SQLite admits one
/// writer; a second one gets SQLITE_BUSY, and Microsoft.Data.Sqlite retries it after sleeping 150 ms on a thread-pool
/// thread, so a burst of checkpoints (a shutdown, a mass deactivation) turned into seconds of sleeping threads.
/// Reads pass straight through: in WAL mode they never wait for the writer.
/// </summary>
public sealed class SerializedWritesStorage(IGrainStorage inner) : IGrainStorage
{
    private readonly SemaphoreSlim _writer = new(1, 1);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(stateName, grainId, grainState);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        OneAtATimeAsync(() => inner.WriteStateAsync(stateName, grainId, grainState));

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        OneAtATimeAsync(() => inner.ClearStateAsync(stateName, grainId, grainState));

    private async Task OneAtATimeAsync(Func<Task> write)
    {
        await _writer.WaitAsync();
        try
        {
            await write();
        }
        finally
        {
            _writer.Release();
        }
    }
}
