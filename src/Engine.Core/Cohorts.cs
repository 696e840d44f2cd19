namespace Engine.Core;

/// <summary>How cohorts and their later periods are cut. Values match <c>engine.v1.CohortPeriod</c>.</summary>
public enum CohortPeriod
{
    Week = 1,
    Month = 2,
}

/// <summary>
/// Period arithmetic for cohorts, in UTC: ISO weeks (Monday 00:00 to the next Monday) and calendar months. A pure rule,
/// so the server and any check of it cut time the same way.
/// </summary>
public static class CohortPeriods
{
    /// <summary>The start of the period that holds <paramref name="at"/> (read as UTC).</summary>
    public static DateTime Start(DateTime at, CohortPeriod period)
    {
        var day = DateTime.SpecifyKind(at, DateTimeKind.Utc).Date;
        return period switch
        {
            // DayOfWeek counts from Sunday; an ISO week starts on Monday, so Sunday is the 7th day.
            CohortPeriod.Week => day.AddDays(-(((int)day.DayOfWeek + 6) % 7)),
            CohortPeriod.Month => new DateTime(day.Year, day.Month, 1, 0, 0, 0, DateTimeKind.Utc),
            _ => throw new ArgumentOutOfRangeException(nameof(period), period, null),
        };
    }

    /// <summary>How many periods <paramref name="at"/> lies after the period starting at <paramref name="start"/> (0: the same period).</summary>
    public static int Offset(DateTime start, DateTime at, CohortPeriod period)
    {
        var s = Start(at, period);
        return period == CohortPeriod.Week
            ? (int)((s - start).Ticks / TimeSpan.TicksPerDay / 7)
            : ((s.Year - start.Year) * 12) + s.Month - start.Month;
    }
}

/// <summary>One event the cohort table reads: a purchase or a refund of a customer, at its event time.</summary>
public readonly record struct CohortEvent(EventKind Kind, DateTime OccurredAt, double Amount);

/// <summary>
/// One acquisition cohort: its size, and per period k after the cohort's own (k = 0) the customers with a purchase in it
/// and their revenue (purchases less refunds dated in it).
/// </summary>
public sealed record CohortRow(DateTime Start, long Size, long[] Customers, double[] Revenue);

/// <summary>
/// Builds the cohort table one customer at a time, so a scan of the log ordered by customer needs memory for one
/// customer only. A customer's cohort is the period of their first purchase; a customer with no purchase has none.
/// Refunds lower revenue in the period they are dated in (as monetary value = purchases − refunds), never the customer
/// count; refunds dated before the cohort's period are left out (there is no cell for them).
/// </summary>
public sealed class CohortTableBuilder(CohortPeriod period, DateTime? from = null, DateTime? to = null)
{
    private readonly SortedDictionary<DateTime, (long Size, Dictionary<int, long> Customers, Dictionary<int, double> Revenue)> _rows = [];
    private DateTime? _last;

    /// <summary>Adds one customer's purchases and refunds (any order).</summary>
    public void AddCustomer(IReadOnlyCollection<CohortEvent> events)
    {
        var purchases = events.Where(e => e.Kind == EventKind.Purchase).ToList();
        if (purchases.Count == 0)
        {
            return;
        }
        var first = purchases.Min(e => e.OccurredAt);
        if ((from is { } f && first < f) || (to is { } t && first >= t))
        {
            return;
        }
        var start = CohortPeriods.Start(first, period);
        if (!_rows.TryGetValue(start, out var row))
        {
            row = (0, [], []);
        }
        row.Size++;
        foreach (var k in purchases.Select(e => CohortPeriods.Offset(start, e.OccurredAt, period)).Distinct())
        {
            row.Customers[k] = row.Customers.GetValueOrDefault(k) + 1;
        }
        foreach (var e in events)
        {
            var k = CohortPeriods.Offset(start, e.OccurredAt, period);
            if (k < 0 || e.Kind is not (EventKind.Purchase or EventKind.Refund))
            {
                continue;
            }
            var signed = e.Kind == EventKind.Purchase ? e.Amount : -e.Amount;
            row.Revenue[k] = row.Revenue.GetValueOrDefault(k) + signed;
            _last = _last is { } l && l >= e.OccurredAt ? l : e.OccurredAt;
        }
        _rows[start] = row;
    }

    /// <summary>
    /// The cohorts, oldest first, each with cells up to the period of the latest purchase or refund added (a triangle),
    /// and that period's start (null when there are none).
    /// </summary>
    public (CohortRow[] Rows, DateTime? Through) Build()
    {
        if (_last is not { } last)
        {
            return ([], null);
        }
        var through = CohortPeriods.Start(last, period);
        var rows = _rows.Select(r =>
        {
            var n = CohortPeriods.Offset(r.Key, through, period) + 1;
            var customers = new long[n];
            var revenue = new double[n];
            for (var k = 0; k < n; k++)
            {
                customers[k] = r.Value.Customers.GetValueOrDefault(k);
                revenue[k] = r.Value.Revenue.GetValueOrDefault(k);
            }
            return new CohortRow(r.Key, r.Value.Size, customers, revenue);
        }).ToArray();
        return (rows, through);
    }
}
