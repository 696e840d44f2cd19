namespace Engine.Abstractions;

/// <summary>
/// One published model, kept for good (key: its version). Every logged event names the model it was assigned under,
/// and a customer replaying its log after a crash, however much later, assigns it under that model again.
/// </summary>
[Alias("engine.IModelArchiveGrain")]
public interface IModelArchiveGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Keeps <paramref name="model"/> (the coordinator calls this before it publishes it, and again with the retirement
    /// metrics when a newer model replaces it; what assigns never changes).
    /// </summary>
    [Alias("Keep")]
    Task KeepAsync(ModelSnapshot model);

    /// <summary>The model, or null if no model of this version was published.</summary>
    [Alias("Get")]
    Task<ModelSnapshot?> GetAsync();
}
