using System.CommandLine;
using System.Diagnostics;
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Engine.Cli;

/// <summary>
/// <c>engine simulate</c>: realistic synthetic traffic for demos and load. Customers follow one of five personas
/// (loyal, big spender, bargain hunter, churning, browser) with their own purchase rate, basket size and habits; a
/// churning customer's rate decays to nothing, and new customers keep arriving. A live line shows the rate sent and
/// the migrations the server reports; the summary is one JSON object on stdout.
/// </summary>
public static class SimulateCommand
{
    /// <summary>A persona: relative activity, mean basket, and the shares of its events by type.</summary>
    private sealed record Persona(string Name, double Activity, double Basket, double Purchase, double Session, double CartAbandon, double Refund, double Support, double HalfLifeDays);

    private static readonly Persona[] Personas =
    [
        new("loyal", 3.0, 60, 0.45, 0.35, 0.10, 0.02, 0.01, double.PositiveInfinity),
        new("big spender", 0.8, 400, 0.55, 0.30, 0.05, 0.05, 0.02, double.PositiveInfinity),
        new("bargain hunter", 2.0, 15, 0.40, 0.30, 0.25, 0.03, 0.02, double.PositiveInfinity),
        new("churning", 2.0, 50, 0.35, 0.30, 0.20, 0.08, 0.07, 20),
        new("browser", 1.5, 30, 0.05, 0.70, 0.20, 0.00, 0.05, double.PositiveInfinity),
    ];

    public static Command Create()
    {
        var customers = new Option<int>("--customers") { Description = "Customers at the start (more arrive as it runs)", DefaultValueFactory = _ => 1_000 };
        var rate = new Option<int>("--rate") { Description = "Events per second", DefaultValueFactory = _ => 500 };
        var seconds = new Option<double>("--seconds") { Description = "Run this long (0 = until Ctrl-C)" };
        var speed = new Option<double>("--speed") { Description = "Simulated seconds per second: 86400 makes a second a day, so silences move customers (needs --seconds; the events end at now)", DefaultValueFactory = _ => 1 };
        var seed = new Option<int>("--seed") { Description = "Random seed (the same seed sends the same customers and events)", DefaultValueFactory = _ => 1 };
        var command = new Command("simulate", "Send realistic synthetic traffic: customers with different purchase rates, basket sizes and churn") { customers, rate, seconds, speed, seed };
        Common.SetAction(command, async (parse, ct) =>
        {
            var (n, perSecond, duration, compress) = (parse.GetValue(customers), parse.GetValue(rate), parse.GetValue(seconds), parse.GetValue(speed));
            if (n < 1 || perSecond < 1 || duration < 0 || compress < 1)
            {
                throw new UsageException("--customers and --rate must be at least 1, --seconds at least 0, --speed at least 1");
            }
            if (compress > 1 && duration == 0)
            {
                throw new UsageException("--speed needs --seconds (the simulated time ends at now)");
            }
            var rng = new Random(parse.GetValue(seed));
            var channel = Common.Channel(parse);
            var simulatedStart = DateTime.UtcNow - TimeSpan.FromSeconds(duration * (compress - 1));
            var population = new List<Persona>();
            void Arrive() => population.Add(Personas[rng.Next(Personas.Length)]);
            for (var i = 0; i < n; i++)
            {
                Arrive();
            }

            long sent = 0, accepted = 0, duplicates = 0, rejected = 0, moves = 0;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            if (duration > 0)
            {
                stop.CancelAfter(TimeSpan.FromSeconds(duration));
            }
            var watcher = CountMovesAsync(channel, () => Interlocked.Increment(ref moves), stop.Token);
            var live = !Console.IsErrorRedirected;
            var watch = Stopwatch.StartNew();
            using var call = new IngestService.IngestServiceClient(channel).IngestStream(cancellationToken: CancellationToken.None);
            var reader = Task.Run(async () =>
            {
                await foreach (var r in call.ResponseStream.ReadAllAsync())
                {
                    (accepted, duplicates, rejected) = (accepted + r.Accepted, duplicates + r.Duplicates, rejected + r.Rejected.Count);
                }
            });
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    // Ten requests a second, each with the events due by then.
                    await Task.Delay(100, stop.Token);
                    var due = (long)(watch.Elapsed.TotalSeconds * perSecond) - sent;
                    var now = simulatedStart + watch.Elapsed * compress;
                    var request = new IngestRequest();
                    for (var i = 0; i < due; i++)
                    {
                        if (rng.NextDouble() < 0.002)
                        {
                            Arrive();
                        }
                        request.Events.Add(NextEvent(rng, population, now, simulatedStart, sent + i));
                    }
                    await call.RequestStream.WriteAsync(request, CancellationToken.None);
                    sent += due;
                    if (live)
                    {
                        Console.Error.Write($"\r{sent:N0} events, {sent / watch.Elapsed.TotalSeconds:N0}/s, {population.Count:N0} customers, {Interlocked.Read(ref moves):N0} moves  ");
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // --seconds elapsed, or Ctrl-C: finish what was sent.
            }
            await call.RequestStream.CompleteAsync();
            await reader;
            await watcher;
            if (live)
            {
                Console.Error.WriteLine();
            }
            Common.PrintJson(new { events = sent, accepted, duplicates, rejected, customers = population.Count, moves, seconds = Math.Round(watch.Elapsed.TotalSeconds, 2) });
            return rejected == 0 ? ExitCodes.Ok : ExitCodes.RowsRejected;
        });
        return command;
    }

    /// <summary>One event of a customer chosen by activity (a churning customer fades with simulated time).</summary>
    private static Event NextEvent(Random rng, List<Persona> population, DateTime now, DateTime start, long number)
    {
        var days = (now - start).TotalDays;
        int index;
        Persona p;
        do
        {
            index = rng.Next(population.Count);
            p = population[index];
        }
        while (rng.NextDouble() * 3.0 > p.Activity * Math.Pow(0.5, days / p.HalfLifeDays));
        var roll = rng.NextDouble();
        var (type, amount) =
            roll < p.Purchase ? (EventType.Purchase, Basket(rng, p.Basket))
            : (roll -= p.Purchase) < p.Session ? (EventType.Session, 0.0)
            : (roll -= p.Session) < p.CartAbandon ? (EventType.CartAbandon, 0.0)
            : (roll -= p.CartAbandon) < p.Refund ? (EventType.Refund, Basket(rng, p.Basket) / 2)
            : (roll -= p.Refund) < p.Support ? (EventType.SupportTicket, 0.0)
            : (EventType.CartAdd, 0.0);
        return new Event
        {
            EventId = $"sim-{Environment.ProcessId}-{number}",
            CustomerId = $"sim-{index:D6}",
            Type = type,
            Amount = Math.Round(amount, 2),
            OccurredAt = Timestamp.FromDateTime(now),
            Category = type == EventType.Purchase ? $"cat-{rng.Next(12)}" : "",
        };
    }

    /// <summary>A basket around its mean, skewed as real baskets are (log-normal).</summary>
    private static double Basket(Random rng, double mean)
    {
        var gaussian = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        return mean * Math.Exp(0.6 * gaussian - 0.18);
    }

    private static async Task CountMovesAsync(Grpc.Net.Client.GrpcChannel channel, Action moved, CancellationToken ct)
    {
        try
        {
            using var call = new AlertService.AlertServiceClient(channel).SubscribeMigrations(new SubscribeMigrationsRequest { LiveOnly = true }, cancellationToken: ct);
            await foreach (var _ in call.ResponseStream.ReadAllAsync(ct))
            {
                moved();
            }
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
        {
        }
    }
}
