using Engine.Core;

namespace Engine.Storage;

/// <summary>The ingest log's purchases and refunds, customer by customer, for the cohort table (AnalyticsService.GetCohorts).</summary>
public interface ICohortSource
{
    /// <summary>
    /// Calls <paramref name="customer"/> once per customer with their purchases and refunds (event time) in the log,
    /// leaving out quarantined events (not applied to any profile). What retention deleted or erasure removed is gone.
    /// Reads the whole log, ordered by customer, so memory holds one customer at a time.
    /// </summary>
    Task ScanCohortEventsAsync(Action<IReadOnlyCollection<CohortEvent>> customer, CancellationToken ct = default);
}
