using Engine.Abstractions;

namespace Engine.Grains;

/// <summary>
/// A published model in its own storage row: written once, read by the replays that need it. Only what assigns is
/// kept (centroids, scaler, segment ids); the drift baseline belongs to the current model alone.
/// </summary>
public sealed class ModelArchiveGrain(
    [PersistentState("model", StorageNames.Engine)] IPersistentState<ModelArchiveState> state) : Grain, IModelArchiveGrain
{
    public async Task KeepAsync(ModelSnapshot model)
    {
        if (model.Version != this.GetPrimaryKeyLong())
        {
            throw new ArgumentException($"model {model.Version} offered to the archive of version {this.GetPrimaryKeyLong()}");
        }
        state.State.Model = model with { Baseline = null };
        await state.WriteStateAsync();
    }

    public Task<ModelSnapshot?> GetAsync() => Task.FromResult(state.State.Model);
}

[GenerateSerializer, Alias("engine.ModelArchiveState")]
public sealed class ModelArchiveState
{
    [Id(0)] public ModelSnapshot? Model { get; set; }
}
