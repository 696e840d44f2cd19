using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Engine.Api.V1;

namespace Engine.ProcessTests;

/// <summary>The <c>engine</c> CLI as a user runs it: its own process against a real server (imports on a file like theirs).</summary>
[Trait("Category", "Process")]
public sealed class CliTests
{
    // In the shape of the UCI Online Retail data set: a BOM, quoted commas and quotes, ISO times with a space or a T, an
    // offset, a cancellation marker on the invoice; line 5 has a time that is not one, line 6 a price that is not one.
    private const string Csv =
        "\uFEFFInvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n" +
        "536365,85123A,\"WHITE HANGING HEART T-LIGHT HOLDER, LARGE\",6,2010-12-01 08:26:00,2.55,17850,United Kingdom\r\n" +
        "536366,22633,\"HAND WARMER \"\"UNION JACK\"\"\",6,2010-12-01T08:28:00Z,1.85,17850,United Kingdom\r\n" +
        "C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,14527,United Kingdom\r\n" +
        "536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,01/12/2010 08:34,1.69,13047,United Kingdom\r\n" +
        "536368,22960,\"JAM MAKING SET, JARS\",6,2010-12-01 08:34:00,n/a,13047,United Kingdom\r\n" +
        "536369,21756,BATH BUILDING BLOCK WORD,3,2010-12-01 09:35:00+01:00,5.95,13047,United Kingdom\r\n";

    private static readonly string[] Mapping =
    [
        "--customer", "CustomerID", "--time", "InvoiceDate", "--amount", "abs(Quantity*UnitPrice)",
        "--type-from", "InvoiceNo:^C=REFUND", "--category", "Description",
    ];

    [Fact]
    public async Task A_csv_imports_with_exact_counts_and_the_bad_lines_and_again_as_duplicates()
    {
        await using var server = await new EngineServer().StartAsync();
        var path = Path.Combine(server.DataDirectory, "retail.csv");
        await File.WriteAllTextAsync(path, Csv, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));

        var first = await EngineCli.RunAsync(server.GrpcAddress, ["import", path, .. Mapping]);
        Assert.True(first.ExitCode == 5, first.Err);
        var summary = JsonDocument.Parse(first.Out).RootElement;
        Assert.Equal((6, 4, 0, 2), (summary.GetProperty("rows").GetInt32(), summary.GetProperty("accepted").GetInt32(),
            summary.GetProperty("duplicates").GetInt32(), summary.GetProperty("rejected").GetInt32()));
        var rejections = summary.GetProperty("rejections").EnumerateArray().ToList();
        Assert.Equal([5, 6], rejections.Select(r => r.GetProperty("line").GetInt32()));
        Assert.StartsWith("InvoiceDate:", rejections[0].GetProperty("reason").GetString());
        Assert.StartsWith("UnitPrice:", rejections[1].GetProperty("reason").GetString());

        // What arrived: two purchases for 17850, a refund for 14527, one purchase (its time an hour ahead of UTC) for 13047.
        var c17850 = await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "17850" });
        Assert.Equal(2, c17850.Rfm.Frequency);
        Assert.Equal(6 * 2.55 + 6 * 1.85, c17850.Rfm.Monetary, 6);
        var c14527 = await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "14527" });
        Assert.Equal((0L, -27.5), (c14527.Rfm.Frequency, c14527.Rfm.Monetary));
        var c13047 = await server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "13047" });
        Assert.Equal((1L, 3 * 5.95), (c13047.Rfm.Frequency, Math.Round(c13047.Rfm.Monetary, 6)));

        var again = await EngineCli.RunAsync(server.GrpcAddress, ["import", path, .. Mapping]);
        var repeat = JsonDocument.Parse(again.Out).RootElement;
        Assert.Equal((6, 0, 4, 2), (repeat.GetProperty("rows").GetInt32(), repeat.GetProperty("accepted").GetInt32(),
            repeat.GetProperty("duplicates").GetInt32(), repeat.GetProperty("rejected").GetInt32()));
    }

    [Fact]
    public async Task A_dry_run_sends_nothing_and_a_missing_column_is_a_usage_error()
    {
        await using var server = await new EngineServer().StartAsync();
        var path = Path.Combine(server.DataDirectory, "retail.csv");
        await File.WriteAllTextAsync(path, Csv);

        var dry = await EngineCli.RunAsync(server.GrpcAddress, ["import", path, "--dry-run", .. Mapping]);
        var summary = JsonDocument.Parse(dry.Out).RootElement;
        Assert.Equal((6, 0, 2), (summary.GetProperty("rows").GetInt32(), summary.GetProperty("accepted").GetInt32(), summary.GetProperty("rejected").GetInt32()));
        var none = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => server.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "17850" }).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.NotFound, none.StatusCode);

        var wrong = await EngineCli.RunAsync(server.GrpcAddress, ["import", path, "--customer", "Customer", "--time", "InvoiceDate", "--amount", "UnitPrice"]);
        Assert.Equal(2, wrong.ExitCode);
        Assert.StartsWith("error: --customer: no column 'Customer'", wrong.Err);
    }

    [Fact]
    public async Task Failures_are_one_line_with_an_exit_code()
    {
        await using var server = await new EngineServer().StartAsync();
        var missing = await EngineCli.RunAsync(server.GrpcAddress, "customer", "nosuch");
        Assert.Equal(3, missing.ExitCode);
        Assert.Equal("error: NOT_FOUND customer_id: no customer 'nosuch'", missing.Err.TrimEnd());
        Assert.Equal("", missing.Out);

        var nobody = await EngineCli.RunAsync($"http://127.0.0.1:{FreePorts.Next()}", "customer", "c1");
        Assert.Equal(4, nobody.ExitCode);
        var line = Assert.Single(nobody.Err.TrimEnd().Split('\n'));
        Assert.StartsWith("error: UNAVAILABLE ", line);

        var verbose = await EngineCli.RunAsync(server.GrpcAddress, "customer", "nosuch", "--verbose");
        Assert.Equal(3, verbose.ExitCode);
        Assert.Contains("at Engine.Cli", verbose.Err);
    }

    [Fact]
    public async Task The_commands_for_people_print_tables_on_request_and_json_when_piped()
    {
        await using var server = await new EngineServer().StartAsync();
        var data = await Population.SegmentedAsync(server, customers: 300, seed: 8);
        Task<JsonElement> Json(params string[] args) => JsonAsync(server, args);

        var status = await Json("status");
        Assert.Equal(("0.2.0", "event-time", "sqlite"), (status.GetProperty("version").GetString(), status.GetProperty("clock").GetString(), status.GetProperty("storage").GetString()));
        var segments = (await Json("segments")).GetProperty("segments").EnumerateArray().ToList();
        Assert.Equal(3, segments.Count);
        var first = segments[0].GetProperty("segmentId").GetString()!;
        var table = await EngineCli.RunAsync(server.GrpcAddress, "segments", "--output", "table");
        Assert.All(segments, s => Assert.Contains(s.GetProperty("segmentId").GetString()!, table.Out));
        Assert.Equal(3, (await Json("matrix", "--since", "3650d", "--cause", "retrain")).GetProperty("segmentIds").GetArrayLength());
        var id = data.CustomerIds.First();
        Assert.Equal(1, (await Json("history", id, "--limit", "1")).GetProperty("transitions").GetArrayLength());
        Assert.Equal("Our best", (await Json("rename", first, "Our best")).GetProperty("name").GetString());
        Assert.Equal("300", (await Json("drift")).GetProperty("customers").GetString());
        Assert.Equal(2, (await Json("forecast", "--periods", "2")).GetProperty("steps").GetArrayLength());

        // watch: JSON lines, resumable from a cursor.
        var watch = await EngineCli.RunAsync(server.GrpcAddress, "watch", "--count", "3");
        var cursors = watch.Out.TrimEnd().Split('\n').Select(l => JsonDocument.Parse(l).RootElement.GetProperty("cursor").GetString()).ToList();
        Assert.Equal(3, cursors.Count);
        var resumed = await EngineCli.RunAsync(server.GrpcAddress, "watch", "--count", "1", "--since", cursors[1]!);
        Assert.Equal(cursors[2], JsonDocument.Parse(resumed.Out).RootElement.GetProperty("cursor").GetString());

        // Webhooks: create, list, dead letters, delete.
        var hook = (await Json("webhook", "create", $"http://127.0.0.1:{FreePorts.Next()}/", "--secret", "s", "--to", first)).GetProperty("id").GetString();
        Assert.Equal(hook, (await Json("webhook", "list")).GetProperty("webhooks")[0].GetProperty("id").GetString());
        await Json("webhook", "dead-letters", hook!);
        Assert.Equal(0, (await Json("webhook", "redeliver", hook!)).GetProperty("redelivered").GetInt32());
        Assert.Equal("active", (await Json("webhook", "list")).GetProperty("webhooks")[0].GetProperty("state").GetString());
        await Json("webhook", "delete", hook!);
        Assert.Equal(0, (await Json("webhook", "list")).GetProperty("webhooks").GetArrayLength());

        var usage = await EngineCli.RunAsync(server.GrpcAddress, "matrix", "--since", "3x");
        Assert.Equal((2, "error: --since: '3x' is not a duration (30d, 12h, 90m, 45s)"), (usage.ExitCode, usage.Err.TrimEnd()));
        Assert.Equal(2, (await EngineCli.RunAsync(server.GrpcAddress, "nosuchcommand")).ExitCode);
    }

    [Fact]
    public async Task Simulate_sends_the_rate_asked_for_and_every_event_is_accepted()
    {
        await using var server = await new EngineServer(settings: new() { ["Engine:Clock"] = "wall" }).StartAsync();
        var run = await EngineCli.RunAsync(server.GrpcAddress, "simulate", "--customers", "200", "--rate", "1000", "--seconds", "2", "--speed", "86400");
        Assert.True(run.ExitCode == 0, run.Err);
        var summary = JsonDocument.Parse(run.Out).RootElement;
        var events = summary.GetProperty("events").GetInt64();
        // The events due by each tenth of a second, for two seconds: never more than the rate allows; fewer only when
        // the machine stalls the sender near the end (two busy cores).
        Assert.InRange(events, 1_000, 2_000);
        Assert.Equal((events, 0L), (summary.GetProperty("accepted").GetInt64(), summary.GetProperty("rejected").GetInt64()));
        var info = await new AdminService.AdminServiceClient(server.Channel).GetServerInfoAsync(new GetServerInfoRequest());
        Assert.Equal(events, info.LogHead);
    }

    /// <summary>Events with these ids cannot be applied by their customer.</summary>
    private sealed class Poison(params string[] eventIds) : Engine.Grains.IEventApplyFault
    {
        private volatile bool _cleared;

        public void Clear() => _cleared = true;

        public void Check(Engine.Abstractions.LoggedEvent e)
        {
            if (!_cleared && eventIds.Contains(e.EventId))
            {
                throw new InvalidOperationException($"poisoned event {e.EventId} (test fault)");
            }
        }
    }

    [Fact]
    public async Task Quarantined_events_are_listed_replayed_and_discarded_from_the_cli()
    {
        var poison = new Poison("bad-1", "bad-2");
        await using var server = await new EngineServer(configure: b => b.Services.AddSingleton<Engine.Grains.IEventApplyFault>(poison)).StartAsync();
        var at = Synthetic.Start;
        await server.Ingest.IngestAsync(Synthetic.Request(
            Synthetic.NewEvent("bad-1", "q1", EventType.Purchase, at, 5), Synthetic.NewEvent("bad-2", "q2", EventType.Purchase, at, 7),
            Synthetic.NewEvent("ok", "q1", EventType.Purchase, at, 9)));
        Task<JsonElement> Json(params string[] args) => JsonAsync(server, args);

        var held = (await Json("quarantine", "list")).GetProperty("events").EnumerateArray().ToList();
        Assert.Equal(["bad-1", "bad-2"], held.Select(e => e.GetProperty("event").GetProperty("eventId").GetString()));
        Assert.All(held, e => Assert.Contains("poisoned event", e.GetProperty("error").GetString()));
        var (first, second) = (held[0].GetProperty("logPosition").GetString()!, held[1].GetProperty("logPosition").GetString()!);

        // The cause fixed, the first is replayed; the second is discarded and stays listed with --all only.
        poison.Clear();
        Assert.Equal("2", (await Json("quarantine", "replay", first)).GetProperty("customer").GetProperty("rfm").GetProperty("frequency").GetString());
        Assert.NotEqual("", (await Json("quarantine", "discard", second)).GetProperty("discardedAt").GetString());
        Assert.Equal(0, (await Json("quarantine", "list")).GetProperty("events").GetArrayLength());
        Assert.Equal(1, (await Json("quarantine", "list", "--all")).GetProperty("events").GetArrayLength());
        Assert.Equal(3, (await EngineCli.RunAsync(server.GrpcAddress, "quarantine", "replay", first)).ExitCode);
    }

    /// <summary>An engine command that must succeed, its JSON output parsed.</summary>
    private static async Task<JsonElement> JsonAsync(EngineServer server, params string[] args)
    {
        var r = await EngineCli.RunAsync(server.GrpcAddress, args);
        Assert.True(r.ExitCode == 0, $"engine {string.Join(' ', args)}: {r.Err}");
        return JsonDocument.Parse(r.Out).RootElement.Clone();
    }
}
