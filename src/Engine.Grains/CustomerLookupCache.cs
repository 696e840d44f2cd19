using System.Collections.Concurrent;
using Engine.Abstractions;
using Engine.Core;
using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>
/// Lookups of warm customers without a grain call. A customer active on this silo that has answered a lookup leaves
/// here what its view is computed from (its profile, segment and model version), and withdraws it at the start of every
/// call that can change it (ingest, reassignment, sweep, recovery, quarantine replay, erasure) and when it deactivates.
/// So a lookup served from here reads the customer as its latest call left it, computes the view at the clock's time
/// as the grain would (<see cref="CustomerViews.Of"/>), and only under the model the entry was published under: a
/// newer model may raise the customer's version, which only the grain can do (a customer behind the current model
/// publishes nothing). An entry answers for a minute at most. Anything else goes to the grain, which publishes again. The profile is shared, not copied: the grain copies its own before it changes it
/// (<see cref="CustomerGrain"/>). A grain call was most of a warm lookup's tail (deploy/bench/HISTORY.md, "Behind the code").
/// </summary>
public sealed class CustomerLookupCache(EngineClock clock, ModelReplica models, IOptions<ModelOptions> modelOptions)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ModelOptions _modelOptions = modelOptions.Value;

    /// <summary>
    /// How long an entry answers before the grain answers one lookup again. Orleans deactivates an activation that gets
    /// no call for its collection age (15 minutes by default), and a lookup answered here is no call: a customer looked
    /// up only here would go cold and be activated again. Also bounds how long an entry an activation failed to
    /// withdraw (one Orleans gave up on while a call hung) could answer.
    /// </summary>
    private static readonly long RefreshAfterMs = (long)TimeSpan.FromMinutes(1).TotalMilliseconds;

    /// <summary>What a customer's view is computed from, as of its latest call; <see cref="ModelSeen"/> is the model it was published under.</summary>
    public sealed class Entry(CustomerProfile profile, string segmentId, long modelVersion, long? modelSeen)
    {
        public CustomerProfile Profile { get; } = profile;
        public string SegmentId { get; } = segmentId;
        public long ModelVersion { get; } = modelVersion;
        public long? ModelSeen { get; } = modelSeen;
        public long PublishedAtMs { get; } = Environment.TickCount64;
    }

    /// <summary>The customer's view from its entry, or false when the grain must answer.</summary>
    public bool TryView(string customerId, out CustomerView? view)
    {
        var model = models.Current;
        if (_entries.TryGetValue(customerId, out var entry) && entry.ModelSeen == model?.Version
            && Environment.TickCount64 - entry.PublishedAtMs < RefreshAfterMs)
        {
            view = CustomerViews.Of(customerId, entry.Profile, entry.SegmentId, entry.ModelVersion, model, clock.Now, _modelOptions);
            EngineMetrics.LookupsFromCache.Inc();
            return true;
        }
        view = null;
        EngineMetrics.LookupsFromGrain.Inc();
        return false;
    }

    /// <summary>Sets the customer's entry, replacing the one it had.</summary>
    internal void Publish(string customerId, Entry entry) => _entries[customerId] = entry;

    /// <summary>Removes the entry only if it is still the one given: a later activation's entry stays.</summary>
    internal void Withdraw(string customerId, Entry entry) => _entries.TryRemove(KeyValuePair.Create(customerId, entry));
}
