using System.Globalization;

namespace Engine.Testing;

/// <summary>Samples read from a /metrics scrape (Prometheus' text format), for the tests and the benches.</summary>
public static class MetricsText
{
    /// <summary>The values of <paramref name="name"/>'s samples, unlabelled or labelled, whose line contains <paramref name="label"/>.</summary>
    public static IEnumerable<double> Samples(string scrape, string name, string label = "") =>
        scrape.Split('\n')
            .Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))
            .Where(l => label.Length == 0 || l.Contains(label, StringComparison.Ordinal))
            .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    /// <summary>The sum of <see cref="Samples"/> (0 when the scrape has none).</summary>
    public static double Sum(string scrape, string name, string label = "") => Samples(scrape, name, label).Sum();

    /// <summary>The first sample of <paramref name="name"/>, or null when the scrape does not have the series (yet).</summary>
    public static double? First(string scrape, string name) => Samples(scrape, name).Select(v => (double?)v).FirstOrDefault();
}
