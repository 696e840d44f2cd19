using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;

namespace Engine.TestKit;

/// <summary>
/// Generated customers with a known answer: three behaviours (frequent big spenders, one-off small buyers long ago,
/// recent newcomers) so clustering has structure, plus refunds and sessions. <see cref="Expected"/> computes RFM
/// directly from the events, independently of the engine.
/// </summary>
public sealed class Synthetic
{
    public static readonly DateTime Start = new(1997, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public List<Event> Events { get; } = [];

    public static Synthetic Generate(int customers, int seed, string prefix = "c")
    {
        var rng = new Random(seed);
        var s = new Synthetic();
        var n = 0;
        for (var c = 0; c < customers; c++)
        {
            var id = $"{prefix}{c:D5}";
            var kind = c % 3;
            var purchases = kind switch { 0 => rng.Next(8, 15), 1 => 1, _ => rng.Next(1, 3) };
            for (var p = 0; p < purchases; p++)
            {
                var day = kind switch { 0 => rng.Next(0, 540), 1 => rng.Next(0, 60), _ => rng.Next(480, 540) };
                var amount = Math.Round(kind == 0 ? 50 + rng.NextDouble() * 200 : 5 + rng.NextDouble() * 20, 2);
                s.Add($"{prefix}e{n++}", id, EventType.Purchase, Start.AddDays(day).AddMinutes(rng.Next(0, 1440)), amount, $"cat{rng.Next(0, 5)}");
            }
            if (kind == 0)
            {
                s.Add($"{prefix}e{n++}", id, EventType.Refund, Start.AddDays(rng.Next(300, 540)), Math.Round(10 + rng.NextDouble() * 20, 2), "");
            }
            // Every customer has one session at the same time: exercised, but no noise for the clustering tests.
            s.Add($"{prefix}e{n++}", id, EventType.Session, Start.AddDays(530), 0, "");
        }
        // Log order is not customer order.
        var shuffled = s.Events.OrderBy(_ => rng.Next()).ToList();
        s.Events.Clear();
        s.Events.AddRange(shuffled);
        return s;
    }

    public void Add(string eventId, string customerId, EventType type, DateTime at, double amount, string category) =>
        Events.Add(NewEvent(eventId, customerId, type, at, amount, category));

    /// <summary>One event as a client sends it.</summary>
    public static Event NewEvent(string eventId, string customerId, EventType type, DateTime at, double amount, string category = "") => new()
    {
        EventId = eventId,
        CustomerId = customerId,
        Type = type,
        OccurredAt = Timestamp.FromDateTime(at),
        Amount = amount,
        Category = category,
    };

    public DateTime Watermark => Events.Max(e => e.OccurredAt.ToDateTime());

    public IEnumerable<string> CustomerIds => Events.Select(e => e.CustomerId).Distinct().Order(StringComparer.Ordinal);

    /// <summary>Recency (days), frequency and monetary straight from the events.</summary>
    public Dictionary<string, (double Recency, long Frequency, double Monetary)> Expected()
    {
        var asOf = Watermark;
        return Events.GroupBy(e => e.CustomerId).ToDictionary(g => g.Key, g =>
        {
            var purchases = g.Where(e => e.Type == EventType.Purchase).ToList();
            var refunds = g.Where(e => e.Type == EventType.Refund).Sum(e => e.Amount);
            var last = purchases.Count > 0 ? purchases.Max(e => e.OccurredAt.ToDateTime()) : g.Min(e => e.OccurredAt.ToDateTime());
            return ((asOf - last).TotalDays, (long)purchases.Count, purchases.Sum(e => e.Amount) - refunds);
        });
    }

    /// <summary>One request of these events.</summary>
    public static IngestRequest Request(params Event[] events)
    {
        var request = new IngestRequest();
        request.Events.AddRange(events);
        return request;
    }

    public static IEnumerable<IngestRequest> Batches(IEnumerable<Event> events, int size)
    {
        foreach (var chunk in events.Chunk(size))
        {
            var r = new IngestRequest();
            r.Events.AddRange(chunk);
            yield return r;
        }
    }
}
