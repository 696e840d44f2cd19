using System.Text.Json;
using System.Text.RegularExpressions;
using Engine.Api.V1;
using Grpc.Core;

namespace Engine.ProcessTests;

/// <summary>
/// One short run of a real server process that touches everything the metrics catalog covers (good and bad events, a
/// retrain, a drift check, a webhook, a subscription, lookups over gRPC and REST), then one scrape of /metrics.
/// </summary>
public sealed partial class MetricsRun : IAsyncLifetime
{
    private readonly EngineServer _config = new(settings: new()
    {
        ["Engine:DriftCheckInterval"] = "00:00:01",
        ["Engine:CheckpointInterval"] = "00:00:01",
    });
    private ServerProcess? _process;
    private HttpSink? _receiver;

    public string Scrape { get; private set; } = "";
    public double SubscribersWhileOpen { get; private set; }
    public IReadOnlyList<string> CustomerIds { get; private set; } = [];

    /// <summary>The server process.</summary>
    public int ProcessId => _process!.Id;

    public async Task InitializeAsync()
    {
        _process = ServerProcess.ForEngine(_config.Settings);
        await _process.StartAsync();
        _receiver = new HttpSink(200);
        var alerts = new AlertService.AlertServiceClient(_config.Channel);
        await alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = _receiver.Address + "/hook", Secret = "s", FromStart = true });
        using var stop = new CancellationTokenSource();
        using var subscription = alerts.SubscribeMigrations(new SubscribeMigrationsRequest(), cancellationToken: stop.Token);
        var reading = Task.Run(async () =>
        {
            try
            {
                await foreach (var _ in subscription.ResponseStream.ReadAllAsync(stop.Token))
                {
                }
            }
            catch (RpcException) when (stop.IsCancellationRequested)
            {
            }
            catch (OperationCanceledException)
            {
            }
        });

        var data = await Population.SegmentedAsync(_config, customers: 300, seed: 11, k: 3);
        CustomerIds = [.. data.CustomerIds];
        var rejected = await _config.Ingest.IngestAsync(Synthetic.Request(
            Synthetic.NewEvent("bad-1", "late-comer", EventType.Purchase, data.Watermark, -1)));
        Assert.StartsWith("amount:", Assert.Single(rejected.Rejected).Reason);
        await _config.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = CustomerIds[0] });
        using var http = new HttpClient();
        (await http.GetAsync($"{_config.HttpAddress}/v1/customers/{CustomerIds[1]}")).EnsureSuccessStatusCode();

        // The drift check (every second) sets the drift and segment gauges; the webhook delivers the retrain's alerts.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            Scrape = await http.GetStringAsync($"{_config.HttpAddress}/metrics");
            var ready = MetricsText.Sum(Scrape, "engine_webhook_deliveries_total", "result=\"delivered\"") > 0
                // A drift check may run before the shards hold every row: the sizes add up at a later one.
                && MetricsText.Sum(Scrape, "engine_segment_customers") == CustomerIds.Count
                && Scrape.Contains("engine_drift_psi{", StringComparison.Ordinal)
                && MetricsText.Sum(Scrape, "engine_model_version") >= 1;
            if (ready || DateTime.UtcNow > deadline)
            {
                break;
            }
            await Task.Delay(250);
        }
        SubscribersWhileOpen = MetricsText.Sum(Scrape, "engine_alert_subscribers");
        await stop.CancelAsync();
        await reading;
    }

    /// <summary>Every series name in a scrape (histograms' _bucket, _sum and _count included).</summary>
    public static HashSet<string> SeriesNames(string scrape) =>
        [.. scrape.Split('\n').Where(l => l.Length > 0 && l[0] != '#').Select(l => SeriesName().Match(l).Value)];

    /// <summary>The metric families a scrape declares (# TYPE lines).</summary>
    public static HashSet<string> Families(string scrape) =>
        [.. scrape.Split('\n').Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)).Select(l => l.Split(' ')[2])];

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*")]
    private static partial Regex SeriesName();

    public async Task DisposeAsync()
    {
        _process?.Kill();
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
        if (_receiver is not null)
        {
            await _receiver.DisposeAsync();
        }
        await _config.StopAsync();
    }
}

/// <summary>
/// The metrics catalog of docs/operations.md is what /metrics exports, both ways; the Grafana dashboard and the
/// Prometheus rules only query series that exist; the rules and the scrape configuration pass promtool.
/// </summary>
[Trait("Category", "Process")]
public sealed partial class MetricsTests(MetricsRun run) : IClassFixture<MetricsRun>
{
    [Fact]
    public void Every_series_in_the_catalog_is_exported_after_a_short_run_and_every_exported_engine_series_is_in_the_catalog()
    {
        var catalog = Catalog();
        Assert.True(catalog.Count >= 25, $"the catalog lists only {catalog.Count} series");
        var exported = MetricsRun.Families(run.Scrape);
        var notExported = catalog.Where(name => !exported.Contains(name)).ToList();
        Assert.True(notExported.Count == 0, $"in the catalog, not on /metrics: {string.Join(", ", notExported)}");
        var notListed = exported.Where(name => name.StartsWith("engine_", StringComparison.Ordinal) && !catalog.Contains(name)).ToList();
        Assert.True(notListed.Count == 0, $"on /metrics, not in docs/operations.md: {string.Join(", ", notListed)}");
    }

    [Fact]
    public void The_new_series_carry_what_the_run_did()
    {
        var s = run.Scrape;
        Assert.Equal(1, MetricsText.Sum(s, "engine_events_rejected_total", "reason=\"amount\""));
        Assert.Equal(1, MetricsText.Sum(s, "engine_events_rejected_total"));
        Assert.Equal(300, MetricsText.Sum(s, "engine_segment_customers"));
        Assert.Equal(3, s.Split('\n').Count(l => l.StartsWith("engine_segment_customers{", StringComparison.Ordinal)));
        Assert.True(MetricsText.Sum(s, "engine_model_version") >= 1);
        Assert.True(MetricsText.Sum(s, "engine_retrain_duration_seconds_count") >= 1);
        Assert.True(MetricsText.Sum(s, "engine_retrain_iterations_sum") >= 1);
        Assert.Equal(12, s.Split('\n').Count(l => l.StartsWith("engine_drift_psi{", StringComparison.Ordinal)));
        Assert.Equal(0.2, MetricsText.Sum(s, "engine_drift_psi_threshold"));
        Assert.True(MetricsText.Sum(s, "engine_webhook_deliveries_total", "result=\"delivered\"") >= 1);
        Assert.Single(s.Split('\n'), l => l.StartsWith("engine_webhook_lag_seconds{webhook=", StringComparison.Ordinal));
        Assert.Equal(1, run.SubscribersWhileOpen);
        Assert.Equal(1, MetricsText.Sum(s, "engine_recovery_seconds_count", "kind=\"startup\""));
        Assert.Equal(1, MetricsText.Sum(s, "engine_build_info", "version=\"0.2.0\""));
        // The interceptor sees gRPC calls and REST calls (JSON transcoding) alike.
        Assert.True(MetricsText.Sum(s, "engine_rpc_duration_seconds_count", "service=\"engine.v1.IngestService\",method=\"Ingest\",code=\"OK\"") >= 1);
        Assert.True(MetricsText.Sum(s, "engine_rpc_duration_seconds_count", "method=\"GetCustomer\",code=\"OK\"") >= 2);
        Assert.True(MetricsText.Sum(s, "engine_rpc_duration_seconds_count", "method=\"SubscribeMigrations\"") >= 0);
    }

    [SkippableFact]
    public void The_server_watches_no_files()
    {
        // Configuration is read once, at start: a watcher on the working directory would hear every write of a data
        // directory inside it (EngineHost.Build).
        Skip.IfNot(OperatingSystem.IsLinux(), "reads /proc");
        var open = new DirectoryInfo($"/proc/{run.ProcessId}/fd").GetFileSystemInfos().Select(Target).ToList();
        Assert.Contains(open, target => target?.EndsWith("log.db", StringComparison.Ordinal) == true);
        Assert.DoesNotContain("anon_inode:inotify", open);

        // A descriptor the server closes while this reads has no target any more.
        static string? Target(FileSystemInfo descriptor)
        {
            try
            {
                return descriptor.LinkTarget;
            }
            catch (IOException)
            {
                return null;
            }
        }
    }

    [Fact]
    public void No_label_carries_a_customer_id()
    {
        Assert.NotEmpty(run.CustomerIds);
        var labelled = run.CustomerIds.Append("late-comer").Where(id => run.Scrape.Contains($"\"{id}\"", StringComparison.Ordinal)).ToList();
        Assert.True(labelled.Count == 0, $"customer ids as label values: {string.Join(", ", labelled)}");
    }

    [Fact]
    public void Every_series_the_dashboard_and_the_rules_query_is_exported()
    {
        var queries = DashboardQueries().Concat(RuleQueries()).ToList();
        Assert.True(queries.Count >= 20, $"found only {queries.Count} queries");
        var exported = MetricsRun.SeriesNames(run.Scrape);
        // up is written by Prometheus itself for every target.
        var missing = queries.SelectMany(q => MetricNames(q).Select(name => (name, q)))
            .Where(x => x.name != "up" && !exported.Contains(x.name)).Select(x => $"{x.name} in {x.q}").Distinct().ToList();
        Assert.True(missing.Count == 0, $"queried but not exported: {string.Join("; ", missing)}");
    }

    [SkippableFact]
    public async Task The_rules_and_the_scrape_configuration_pass_promtool()
    {
        await Tool.Require("promtool (Debian package prometheus)",
            async () => await Tool.RunAsync("bash", ["-c", "command -v promtool"]) is { ExitCode: 0 },
            () => Tool.RunAsync("bash", ["-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus"]));
        var dir = Path.Combine(Repository.Root, "deploy", "prometheus");
        var rules = await Tool.RunAsync("promtool", ["check", "rules", "engine-rules.yml"], dir);
        Assert.True(rules.ExitCode == 0, rules.All);
        Assert.Contains("SUCCESS: 6 rules found", rules.All);
        var config = await Tool.RunAsync("promtool", ["check", "config", "prometheus.yml"], dir);
        Assert.True(config.ExitCode == 0, config.All);
    }

    /// <summary>The series names in the Metrics table of docs/operations.md.</summary>
    private static HashSet<string> Catalog()
    {
        var text = File.ReadAllText(Path.Combine(Repository.Root, "docs", "operations.md"));
        var section = text[text.IndexOf("\n## Metrics", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n## ", 5, StringComparison.Ordinal)];
        return [.. CatalogRow().Matches(section).Select(m => m.Groups[1].Value)];
    }

    private static IEnumerable<string> DashboardQueries()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repository.Root, "deploy", "grafana", "engine.json")));
        foreach (var panel in doc.RootElement.GetProperty("panels").EnumerateArray())
        {
            Assert.Equal("${DS_PROMETHEUS}", panel.GetProperty("datasource").GetProperty("uid").GetString());
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                yield return target.GetProperty("expr").GetString()!;
            }
        }
    }

    /// <summary>The expr of every rule: a YAML scalar on one line, or a folded block (<c>expr: &gt;</c>) of indented lines.</summary>
    private static IEnumerable<string> RuleQueries()
    {
        var lines = File.ReadAllLines(Path.Combine(Repository.Root, "deploy", "prometheus", "engine-rules.yml"));
        for (var i = 0; i < lines.Length; i++)
        {
            var trimmed = lines[i].TrimStart();
            if (!trimmed.StartsWith("expr:", StringComparison.Ordinal))
            {
                continue;
            }
            var value = trimmed["expr:".Length..].Trim();
            if (value is ">" or "|")
            {
                var indent = lines[i].Length - trimmed.Length;
                var block = new List<string>();
                while (i + 1 < lines.Length && (lines[i + 1].Length - lines[i + 1].TrimStart().Length > indent || lines[i + 1].Trim().Length == 0))
                {
                    block.Add(lines[++i].Trim());
                }
                value = string.Join(' ', block);
            }
            yield return value;
        }
    }

    /// <summary>
    /// The metric names a PromQL expression selects: what is left after strings, label matchers, ranges, grouping
    /// clauses, numbers, functions and keywords are taken out.
    /// </summary>
    public static IEnumerable<string> MetricNames(string expr)
    {
        var e = Regex.Replace(expr, "\"(?:[^\"\\\\]|\\\\.)*\"", "\"\"");
        e = Regex.Replace(e, @"\{[^}]*\}", " ");
        e = Regex.Replace(e, @"\[[^\]]*\]", " ");
        e = Regex.Replace(e, @"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ");
        foreach (Match m in Regex.Matches(e, @"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*"))
        {
            var name = m.Value;
            var next = e[(m.Index + m.Length)..].TrimStart();
            if (next.StartsWith('(') || Keywords.Contains(name))
            {
                continue;
            }
            yield return name;
        }
    }

    private static readonly HashSet<string> Keywords = ["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"];

    [GeneratedRegex(@"^\| `(engine_[a-z0-9_]+)`", RegexOptions.Multiline)]
    private static partial Regex CatalogRow();
}
