using Engine.Core.Clv;
using Xunit.Abstractions;

namespace Engine.UnitTests;

/// <summary>
/// BG/NBD and Gamma-Gamma on the CDNOW 1/10 sample of Fader, Hardie and Lee (2005), calibration to 1997-09-30:
/// the fits reproduce the published estimates to the published digits.
/// </summary>
public sealed class ClvPaperTests(ITestOutputHelper output)
{
    private static readonly Lazy<Dictionary<string, RepeatSummary>> Calibration =
        new(() => CdnowPaperSample.Summaries(CdnowPaperSample.CalibrationEnd));

    [Fact]
    public void The_sample_has_the_papers_2357_customers_and_946_repeat_buyers()
    {
        Assert.Equal(2357, Calibration.Value.Count);
        Assert.Equal(946, Calibration.Value.Values.Count(s => s.Frequency > 0));
        Assert.Equal(6919, CdnowPaperSample.Purchases.Count);
    }

    [Fact]
    public void BgNbd_fit_reproduces_the_published_estimates()
    {
        var fit = BgNbd.Fit(Calibration.Value.Values);
        Assert.NotNull(fit);
        var p = fit.Value.Parameters;
        output.WriteLine($"r={p.R:R} alpha={p.Alpha:R} a={p.A:R} b={p.B:R} LL={fit.Value.LogLikelihood:R}");
        Assert.Equal(0.243, Math.Round(p.R, 3));
        Assert.Equal(4.414, Math.Round(p.Alpha, 3));
        Assert.Equal(0.793, Math.Round(p.A, 3));
        Assert.Equal(2.426, Math.Round(p.B, 3));
        Assert.Equal(-9582.4, Math.Round(fit.Value.LogLikelihood, 1));
        Assert.Equal(2357, fit.Value.Customers);
    }

    [Fact]
    public void GammaGamma_fit_reproduces_the_published_estimates()
    {
        var fit = GammaGamma.Fit(Calibration.Value.Values);
        Assert.NotNull(fit);
        var g = fit.Value.Parameters;
        output.WriteLine($"p={g.P:R} q={g.Q:R} gamma={g.Gamma:R} LL={fit.Value.LogLikelihood:R}");
        Assert.Equal(6.25, Math.Round(g.P, 2));
        Assert.Equal(3.74, Math.Round(g.Q, 2));
        Assert.Equal(15.44, Math.Round(g.Gamma, 2));
        Assert.Equal(946, fit.Value.Customers);
    }
}
