using System.Globalization;
using Engine.Core.Clv;

namespace Engine.UnitTests;

/// <summary>The paper's CDNOW 1/10 sample (Data/cdnow_paper_sample.txt, see Data/README.md) as per-customer summaries.</summary>
internal static class CdnowPaperSample
{
    public static readonly DateOnly CalibrationEnd = new(1997, 9, 30);

    public sealed record Purchase(string CustomerId, DateOnly Day, double Amount);

    public static IReadOnlyList<Purchase> Purchases { get; } = Load();

    private static List<Purchase> Load()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Data", "cdnow_paper_sample.txt");
        var list = new List<Purchase>();
        foreach (var line in File.ReadLines(path))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 5)
            {
                continue;
            }
            list.Add(new Purchase(
                f[0],
                DateOnly.ParseExact(f[2], "yyyyMMdd", CultureInfo.InvariantCulture),
                double.Parse(f[4], CultureInfo.InvariantCulture)));
        }
        return list;
    }

    /// <summary>
    /// The definitions, computed here directly from the purchases (not through the engine's profile):
    /// distinct purchase days up to and including <paramref name="asOf"/>, day amounts summed.
    /// </summary>
    public static Dictionary<string, RepeatSummary> Summaries(DateOnly asOf)
    {
        var result = new Dictionary<string, RepeatSummary>();
        foreach (var customer in Purchases.Where(p => p.Day <= asOf).GroupBy(p => p.CustomerId))
        {
            var days = customer.GroupBy(p => p.Day).OrderBy(g => g.Key).Select(g => (Day: g.Key, Amount: g.Sum(p => p.Amount))).ToList();
            var first = days[0].Day.DayNumber;
            var x = days.Count - 1;
            result[customer.Key] = new RepeatSummary(
                x,
                (days[^1].Day.DayNumber - first) / 7.0,
                (asOf.DayNumber - first) / 7.0,
                x > 0 ? days.Skip(1).Sum(d => d.Amount) / x : 0);
        }
        return result;
    }
}
