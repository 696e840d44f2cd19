using Engine.Abstractions;

namespace Engine.Grains;

/// <summary>
/// References to customer grains for the hot paths (ingest, lookups). Orleans 10.4.2's GetGrain&lt;T&gt;(string) looks
/// the grain interface up by reflection over its attributes on every call, a visible share of ingest CPU; the grain and
/// interface types are resolved once here instead (deploy/bench/HISTORY.md, "Behind the code").
/// </summary>
public sealed class CustomerGrains(IGrainFactory grains, CustomerLookupCache lookups)
{
    private readonly Lazy<(GrainType Type, GrainInterfaceType Interface)> _types = new(() =>
    {
        var sample = (GrainReference)grains.GetGrain<ICustomerGrain>("-");
        return (sample.GrainId.Type, sample.InterfaceType);
    });

    public ICustomerGrain Get(string customerId) =>
        (ICustomerGrain)grains.GetGrain(GrainId.Create(_types.Value.Type, customerId), _types.Value.Interface);

    /// <summary>
    /// A customer's lookup view (null for an unknown id): from the silo's lookup cache when the customer left an entry
    /// there, otherwise from the grain.
    /// </summary>
    public ValueTask<CustomerView?> GetViewAsync(string customerId) =>
        lookups.TryView(customerId, out var view) ? ValueTask.FromResult(view) : Get(customerId).GetAsync();

    /// <summary>
    /// The customer's recovery (activated from checkpoint and log, its row and latest transitions handed over again):
    /// what every path that lost track of a customer asks it for.
    /// </summary>
    public Task<ApplyResult> RecoverAsync(string customerId) => Get(customerId).RecoverAsync();
}
