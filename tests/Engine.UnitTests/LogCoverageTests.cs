using System.Diagnostics;
using Engine.Grains;

namespace Engine.UnitTests;

[Trait("Category", "Unit")]
public class LogCoverageTests
{
    private static long Seconds(double s) => (long)(s * Stopwatch.Frequency);

    [Fact]
    public void A_lone_silo_never_reads_back_and_promises_everything_since_recovery()
    {
        var coverage = new LogCoverage(TimeSpan.FromSeconds(10));
        coverage.Start(100);
        Assert.Equal((100L, false), coverage.Appended(100, 150, Seconds(1)));
        Assert.Equal((100L, false), coverage.Appended(150, 200, Seconds(2)));
    }

    [Fact]
    public void Another_silos_appends_are_read_back_until_they_age_out_of_the_window()
    {
        var coverage = new LogCoverage(TimeSpan.FromSeconds(10));
        coverage.Start(100);
        coverage.Appended(100, 150, Seconds(1));
        // Another silo took (150, 180]: deliveries now carry everything after 150.
        Assert.Equal((150L, true), coverage.Appended(180, 200, Seconds(2)));
        Assert.Equal((150L, true), coverage.Appended(200, 210, Seconds(5)));
        // Eleven seconds later the interval is dropped: the promise starts after it, with nothing to read back.
        Assert.Equal((180L, false), coverage.Appended(210, 220, Seconds(13)));
    }

    [Fact]
    public void An_append_of_only_duplicates_still_moves_the_silos_end()
    {
        var coverage = new LogCoverage(TimeSpan.FromSeconds(10));
        coverage.Start(0);
        Assert.Equal((0L, false), coverage.Appended(0, 0, Seconds(1)));
        Assert.Equal((0L, true), coverage.Appended(40, 50, Seconds(2)));
    }
}
