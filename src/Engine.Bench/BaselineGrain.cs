namespace Engine.Bench;

/// <summary>A grain that does nothing: the bare cost of one Orleans call, the yardstick ingest is compared with.</summary>
[Alias("engine.bench.IBaselineGrain")]
public interface IBaselineGrain : IGrainWithStringKey
{
    [Alias("Touch")]
    Task TouchAsync();
}

public sealed class BaselineGrain : Grain, IBaselineGrain
{
    public Task TouchAsync() => Task.CompletedTask;
}
