using Engine.Api.V1;
using Google.Protobuf;

namespace Engine.ProcessTests;

/// <summary>
/// Tracing through the standard OTEL_EXPORTER_OTLP_* variables, received by a real OTLP/HTTP endpoint and decoded;
/// the Orleans Dashboard behind Engine:Dashboard.
/// </summary>
[Trait("Category", "Process")]
public sealed class ObservabilityTests
{
    private const int ServerKind = 2;

    [Fact]
    public async Task With_an_OTLP_endpoint_an_ingest_trace_shows_its_grain_calls_and_storage_writes_and_a_lookup_its_grain_call()
    {
        await using var collector = new HttpSink(200);
        var config = new EngineServer();
        await using var process = ServerProcess.ForEngine(config.Settings,
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.Address), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"));
        try
        {
            await process.StartAsync();
            // With a model, a new customer's first event assigns it: a transition, so the publish writes the transition log.
            var population = await Population.SegmentedAsync(config, customers: 60, seed: 5, k: 3);
            var at = population.Watermark;
            // The client starts each trace (W3C traceparent), so the test knows which trace is whose.
            var (ingestTraceId, lookupTraceId) = (Convert.ToHexString(Guid.NewGuid().ToByteArray()), Convert.ToHexString(Guid.NewGuid().ToByteArray()));
            var ingested = await config.Ingest.IngestAsync(Synthetic.Request(
                Synthetic.NewEvent("t-1", "traced", EventType.Purchase, at, 10),
                Synthetic.NewEvent("t-2", "traced", EventType.Purchase, at.AddHours(1), 20)), TraceParent(ingestTraceId));
            Assert.Equal(2, ingested.Accepted);
            await config.Segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = "traced" }, TraceParent(lookupTraceId));

            List<Span> spans = [];
            Span? ingest = null, lookup = null;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < deadline)
            {
                spans = [.. collector.Requests.Where(r => r.Path == "/v1/traces").SelectMany(r => Span.Decode(r.Body))];
                ingest = spans.FirstOrDefault(s => s.TraceId == ingestTraceId && s.Kind == ServerKind && s.Mentions("engine.v1.IngestService/Ingest"));
                lookup = spans.FirstOrDefault(s => s.TraceId == lookupTraceId && s.Kind == ServerKind && s.Mentions("engine.v1.SegmentService/GetCustomer"));
                if (ingest is not null && lookup is not null
                    && spans.Any(s => s.TraceId == ingest.TraceId && s.Name == "engine.transitions.append")
                    && spans.Any(s => s.TraceId == lookup.TraceId && s.Scope == "Microsoft.Orleans.Application"))
                {
                    break;
                }
                await Task.Delay(200);
            }
            Assert.True(ingest is not null, $"no ingest server span among: {string.Join(", ", spans.Select(s => s.Name))}");
            Assert.True(lookup is not null, $"no lookup server span among: {string.Join(", ", spans.Select(s => s.Name))}");

            var ingestTrace = spans.Where(s => s.TraceId == ingest.TraceId).ToList();
            // The batch's stages are children of the request's server span; the grain calls and the writes sit under them.
            var append = Assert.Single(ingestTrace, s => s.Name == "engine.ingest.append");
            Assert.Equal(ingest.SpanId, append.ParentId);
            var apply = Assert.Single(ingestTrace, s => s.Name == "engine.ingest.apply");
            Assert.Equal(ingest.SpanId, apply.ParentId);
            var customerCall = Assert.Single(ingestTrace, s => s.Scope == "Microsoft.Orleans.Application" && s.ParentId == apply.SpanId);
            Assert.Contains("ICustomerGrain", customerCall.Name);
            var publish = Assert.Single(ingestTrace, s => s.Name == "engine.ingest.publish");
            Assert.Equal(ingest.SpanId, publish.ParentId);
            Assert.Contains(ingestTrace, s => s.Name == "engine.transitions.append" && s.ParentId == publish.SpanId);

            var lookupTrace = spans.Where(s => s.TraceId == lookup.TraceId).ToList();
            var lookupCall = Assert.Single(lookupTrace, s => s.Scope == "Microsoft.Orleans.Application" && s.ParentId == lookup.SpanId);
            Assert.Contains("ICustomerGrain", lookupCall.Name);
            Assert.DoesNotContain(lookupTrace, s => s.Scope == "Engine");
        }
        finally
        {
            process.Kill();
        }
    }

    [Fact]
    public async Task The_Orleans_Dashboard_answers_on_the_HTTP_port_only_when_Engine_Dashboard_is_true()
    {
        using var http = new HttpClient();
        await using (var on = await new EngineServer(settings: new() { ["Engine:Dashboard"] = "true" }).StartAsync())
        {
            var page = await http.GetAsync($"{on.HttpAddress}/dashboard/");
            Assert.Equal(System.Net.HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("Orleans", await page.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        }
        await using var off = await new EngineServer().StartAsync();
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync($"{off.HttpAddress}/dashboard/")).StatusCode);
    }

    private static Grpc.Core.Metadata TraceParent(string traceId) =>
        new() { { "traceparent", $"00-{traceId.ToLowerInvariant()}-{Convert.ToHexString(Guid.NewGuid().ToByteArray())[..16].ToLowerInvariant()}-01" } };

    /// <summary>
    /// One span of an OTLP ExportTraceServiceRequest (opentelemetry/proto/collector/trace/v1), decoded field by field:
    /// resource_spans(1) → scope_spans(2) → scope(1).name(1), spans(2) → trace_id(1), span_id(2), parent_span_id(4),
    /// name(5), kind(6), attributes(9) of string values.
    /// </summary>
    private sealed record Span(string Scope, string TraceId, string SpanId, string ParentId, string Name, int Kind, List<string> Values)
    {
        public bool Mentions(string text) => Name.Contains(text, StringComparison.Ordinal) || Values.Any(v => v.Contains(text, StringComparison.Ordinal));

        public static IEnumerable<Span> Decode(byte[] body)
        {
            foreach (var resourceSpans in Fields(ByteString.CopyFrom(body), 1))
            {
                foreach (var scopeSpans in Fields(resourceSpans, 2))
                {
                    var scope = Fields(scopeSpans, 1).Select(s => Fields(s, 1).FirstOrDefault()?.ToStringUtf8()).FirstOrDefault() ?? "";
                    foreach (var span in Fields(scopeSpans, 2))
                    {
                        yield return Read(scope, span);
                    }
                }
            }
        }

        private static Span Read(string scope, ByteString bytes)
        {
            var (trace, id, parent, name, kind) = ("", "", "", "", 0);
            var values = new List<string>();
            var input = new CodedInputStream(bytes.ToByteArray());
            for (uint tag; (tag = input.ReadTag()) != 0;)
            {
                switch (WireFormat.GetTagFieldNumber(tag))
                {
                    case 1: trace = Convert.ToHexString(input.ReadBytes().Span); break;
                    case 2: id = Convert.ToHexString(input.ReadBytes().Span); break;
                    case 4: parent = Convert.ToHexString(input.ReadBytes().Span); break;
                    case 5: name = input.ReadString(); break;
                    case 6: kind = input.ReadEnum(); break;
                    case 9:
                        // KeyValue: key(1), value(2) = AnyValue whose string_value is field 1.
                        var attribute = input.ReadBytes();
                        values.AddRange(Fields(attribute, 2).SelectMany(v => Fields(v, 1)).Select(v => v.ToStringUtf8()));
                        break;
                    default: input.SkipLastField(); break;
                }
            }
            return new Span(scope, trace, id, parent, name, kind, values);
        }

        /// <summary>The length-delimited fields numbered <paramref name="number"/> of a message.</summary>
        private static List<ByteString> Fields(ByteString message, int number)
        {
            var found = new List<ByteString>();
            var input = new CodedInputStream(message.ToByteArray());
            for (uint tag; (tag = input.ReadTag()) != 0;)
            {
                if (WireFormat.GetTagFieldNumber(tag) == number && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
                {
                    found.Add(input.ReadBytes());
                }
                else
                {
                    input.SkipLastField();
                }
            }
            return found;
        }
    }
}
