using System.Globalization;
using Engine.Core;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public sealed class CohortPeriodsTests
{
    private static DateTime Utc(int y, int m, int d, int h = 0, int min = 0) => new(y, m, d, h, min, 0, DateTimeKind.Utc);

    [Fact]
    public void A_week_runs_from_Monday_00_00_UTC_so_a_Sunday_night_belongs_to_the_week_before()
    {
        // 2024-12-30 is a Monday (ISO week 1 of 2025); 2025-01-05 the Sunday that ends it.
        Assert.Equal(Utc(2024, 12, 30), CohortPeriods.Start(Utc(2025, 1, 5, 23, 59), CohortPeriod.Week));
        Assert.Equal(Utc(2025, 1, 6), CohortPeriods.Start(Utc(2025, 1, 6), CohortPeriod.Week));
        Assert.Equal(Utc(2024, 12, 30), CohortPeriods.Start(Utc(2024, 12, 30), CohortPeriod.Week));
        Assert.Equal(1, CohortPeriods.Offset(Utc(2024, 12, 30), Utc(2025, 1, 6), CohortPeriod.Week));
        Assert.Equal(0, CohortPeriods.Offset(Utc(2024, 12, 30), Utc(2025, 1, 5, 23, 59), CohortPeriod.Week));
    }

    [Fact]
    public void Week_starts_agree_with_the_iso_calendar_every_day_of_four_years()
    {
        for (var day = Utc(2023, 1, 1); day < Utc(2027, 1, 1); day = day.AddDays(1))
        {
            var iso = ISOWeek.ToDateTime(ISOWeek.GetYear(day), ISOWeek.GetWeekOfYear(day), DayOfWeek.Monday);
            Assert.Equal(iso, CohortPeriods.Start(day.AddHours(13), CohortPeriod.Week));
        }
    }

    [Fact]
    public void A_month_is_the_calendar_month_in_UTC_and_offsets_count_across_years()
    {
        Assert.Equal(Utc(2025, 1, 1), CohortPeriods.Start(Utc(2025, 1, 31, 23, 59), CohortPeriod.Month));
        Assert.Equal(Utc(2025, 2, 1), CohortPeriods.Start(Utc(2025, 2, 1), CohortPeriod.Month));
        Assert.Equal(Utc(2024, 2, 1), CohortPeriods.Start(Utc(2024, 2, 29, 12, 0), CohortPeriod.Month));
        Assert.Equal(2, CohortPeriods.Offset(Utc(2024, 11, 1), Utc(2025, 1, 1), CohortPeriod.Month));
        Assert.Equal(0, CohortPeriods.Offset(Utc(2024, 11, 1), Utc(2024, 11, 30, 23, 59), CohortPeriod.Month));
    }

    [Fact]
    public void A_refund_lowers_revenue_in_its_own_period_but_never_the_customer_count()
    {
        var builder = new CohortTableBuilder(CohortPeriod.Month);
        builder.AddCustomer([
            new(EventKind.Purchase, Utc(2025, 1, 10), 100), new(EventKind.Refund, Utc(2025, 2, 3), 30),
            new(EventKind.Purchase, Utc(2025, 3, 1), 20),
        ]);
        builder.AddCustomer([new(EventKind.Refund, Utc(2025, 1, 2), 5)]);  // No purchase: no cohort.
        var (rows, through) = builder.Build();
        var row = Assert.Single(rows);
        Assert.Equal((Utc(2025, 1, 1), 1L, Utc(2025, 3, 1)), (row.Start, row.Size, through));
        Assert.Equal([1L, 0L, 1L], row.Customers);
        Assert.Equal([100.0, -30.0, 20.0], row.Revenue);
    }
}
