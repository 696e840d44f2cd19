using System.Diagnostics;

namespace Engine.Grains;

/// <summary>
/// Engine's own spans (ActivitySource "Engine"): the storage writes of ingest (log append, transition-log write) and
/// the stages around them, and checkpoints. With no listener (tracing off) StartActivity returns null and costs a
/// check. A batch serves many requests: its spans are children of the first request's span and link the others.
/// </summary>
public static class EngineTracing
{
    public const string SourceName = "Engine";

    public static readonly ActivitySource Source = new(SourceName, EngineMetrics.Version);

    /// <summary>A span for one stage of a batch: child of the first request's trace, linked to the other requests'.</summary>
    public static Activity? StartBatch(string name, IReadOnlyList<ActivityContext> requests)
    {
        if (!Source.HasListeners())
        {
            return null;
        }
        var parent = requests.Count > 0 ? requests[0] : default;
        var links = requests.Count > 1 ? requests.Skip(1).Where(r => r != default).Select(r => new ActivityLink(r)) : null;
        return Source.StartActivity(name, ActivityKind.Internal, parent, links: links);
    }
}
