using System.Collections.Concurrent;
using System.Diagnostics;
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Xunit.Abstractions;

namespace Engine.ProcessTests;

/// <summary>
/// More than the server can take at once: many streams and unary callers flood a server process whose GC heap is
/// capped (<c>DOTNET_GCHeapHardLimit</c>). Requests beyond <c>Engine:MaxEventsInFlight</c> are refused with
/// RESOURCE_EXHAUSTED and a <c>retry-after-ms</c> trailer instead of queueing; the process lives, its heap stays under
/// the cap, it takes requests again by itself, and every acknowledged event is there afterwards, once.
/// </summary>
[Collection(ServerProcesses.Name)]
[Trait("Category", "Process")]
public sealed class OverloadTests(ITestOutputHelper output)
{
    private const long HeapLimit = 384L << 20;
    private const int Customers = 4_000;
    private const int EventsPerRequest = 2_000;

    [Fact]
    public async Task A_flood_is_refused_with_retry_after_and_every_acknowledged_event_is_kept_under_a_heap_cap()
    {
        var config = new EngineServer(settings: new()
        {
            ["Engine:MaxEventsInFlight"] = "20000",
            ["Engine:IngestAdmissionWait"] = "00:00:00.200",
        });
        await using var server = ServerProcess.ForEngine(config.Settings, ("DOTNET_GCHeapHardLimit", $"0x{HeapLimit:X}"));
        await server.StartAsync();
        using var http = new HttpClient();

        var acked = new ConcurrentDictionary<string, int>();
        long refused = 0, accepted = 0, peakHeap = 0, peakRss = 0;
        var retryAfterSeen = new ConcurrentBag<string>();
        var next = 0L;
        IngestRequest NewRequest()
        {
            var n = Interlocked.Increment(ref next);
            var request = new IngestRequest();
            var rng = new Random((int)n);
            for (var i = 0; i < EventsPerRequest; i++)
            {
                request.Events.Add(new Event
                {
                    EventId = $"r{n}-{i}", CustomerId = $"flood-{rng.Next(Customers)}", Type = EventType.Purchase, Amount = 1 + rng.Next(50),
                    OccurredAt = Timestamp.FromDateTime(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(i)),
                });
            }
            return request;
        }
        // A request whose outcome is unknown (its connection dropped) may have been applied, so the client sends it again
        // until it is answered; event ids make the retry safe, and an applied request comes back as duplicates.
        void Acknowledge(IngestRequest request, IngestResponse response)
        {
            Assert.Equal(EventsPerRequest, response.Accepted + response.Duplicates);
            Interlocked.Add(ref accepted, EventsPerRequest);
            foreach (var e in request.Events)
            {
                acked.AddOrUpdate(e.CustomerId, 1, (_, c) => c + 1);
            }
        }
        void Refused(RpcException ex)
        {
            Assert.True(ex.StatusCode == StatusCode.ResourceExhausted, $"{ex.StatusCode}: {ex.Status.Detail}\nserver: {server.Output}");
            retryAfterSeen.Add(ex.Trailers.GetValue("retry-after-ms") ?? "");
            Interlocked.Increment(ref refused);
        }
        // Under this flood HTTP/2 itself may drop a connection: a client's DATA frame held back by flow control can reach
        // the server after Kestrel stopped draining a stream it had already refused, which Kestrel treats as a connection
        // error, failing every call on that connection with an unknown outcome.
        static bool OutcomeUnknown(RpcException ex) => ex.StatusCode is StatusCode.Internal or StatusCode.Unavailable or StatusCode.Cancelled;
        long dropped = 0;
        async Task SettleAsync(IngestService.IngestServiceClient client, IngestRequest request)
        {
            Interlocked.Increment(ref dropped);
            while (true)
            {
                try
                {
                    Acknowledge(request, await client.IngestAsync(request));
                    return;
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted || OutcomeUnknown(ex))
                {
                    await Task.Delay(100);
                }
            }
        }

        using var flood = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var sampling = Task.Run(async () =>
        {
            while (!flood.IsCancellationRequested)
            {
                var metrics = await http.GetStringAsync($"{config.HttpAddress}/metrics");
                var heap = metrics.Split('\n').Where(l => l.StartsWith("dotnet_total_memory_bytes ", StringComparison.Ordinal))
                    .Select(l => (long)double.Parse(l.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
                var rss = File.ReadLines($"/proc/{server.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
                peakHeap = Math.Max(peakHeap, heap);
                peakRss = Math.Max(peakRss, long.Parse(rss.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024);
                await Task.Delay(200);
            }
        });

        // Streams: each writes requests as fast as the transport takes them; a refusal ends the stream after the answers
        // to the requests before it, so those and nothing later were taken.
        async Task Stream()
        {
            var client = new IngestService.IngestServiceClient(config.Channel);
            while (!flood.IsCancellationRequested)
            {
                using var call = client.IngestStream();
                var sent = new ConcurrentQueue<IngestRequest>();
                var writing = Task.Run(async () =>
                {
                    try
                    {
                        for (var i = 0; i < 200 && !flood.IsCancellationRequested; i++)
                        {
                            var request = NewRequest();
                            sent.Enqueue(request);
                            await call.RequestStream.WriteAsync(request);
                        }
                        await call.RequestStream.CompleteAsync();
                    }
                    catch (Exception)
                    {
                        // The server ended the stream (refused); the reader reports it.
                    }
                });
                try
                {
                    await foreach (var response in call.ResponseStream.ReadAllAsync())
                    {
                        Assert.True(sent.TryDequeue(out var request));
                        Acknowledge(request!, response);
                    }
                }
                catch (RpcException ex) when (OutcomeUnknown(ex))
                {
                    await writing;
                    foreach (var request in sent)
                    {
                        await SettleAsync(client, request);
                    }
                    continue;
                }
                catch (RpcException ex)
                {
                    Refused(ex);
                    await Task.Delay(int.Parse(ex.Trailers.GetValue("retry-after-ms") ?? "100"));
                }
                await writing;
            }
        }
        async Task Unary()
        {
            var client = new IngestService.IngestServiceClient(config.Channel);
            while (!flood.IsCancellationRequested)
            {
                var request = NewRequest();
                try
                {
                    Acknowledge(request, await client.IngestAsync(request));
                }
                catch (RpcException ex) when (OutcomeUnknown(ex))
                {
                    await SettleAsync(client, request);
                }
                catch (RpcException ex)
                {
                    Refused(ex);
                }
            }
        }
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Stream()).Concat(Enumerable.Range(0, 16).Select(_ => Unary())));
        await sampling;

        output.WriteLine($"acknowledged {accepted:N0} events in {accepted / EventsPerRequest:N0} requests; refused {refused:N0} requests; " +
            $"{dropped:N0} requests sent again after a dropped connection; " +
            $"peak GC heap {peakHeap / (1 << 20)} MiB, peak RSS {peakRss / (1 << 20)} MiB (heap cap {HeapLimit >> 20} MiB)");
        Assert.True(refused > 0, "the flood was never refused");
        Assert.True(accepted > 0, "nothing was acknowledged");
        Assert.All(retryAfterSeen, v => Assert.True(int.TryParse(v, out var ms) && ms > 0, $"retry-after-ms '{v}'"));
        Assert.True(peakHeap is > 0 and < HeapLimit, $"peak GC heap {peakHeap}");

        // It takes requests again by itself, and holds every acknowledged event once.
        var after = NewRequest();
        Acknowledge(after, await config.Ingest.IngestAsync(after));
        foreach (var chunk in acked.Keys.Chunk(500))
        {
            var request = new BatchGetCustomersRequest();
            request.CustomerIds.AddRange(chunk);
            foreach (var c in (await config.Segments.BatchGetCustomersAsync(request)).Customers)
            {
                Assert.Equal(acked[c.CustomerId], c.EventCount);
            }
        }
        Assert.Equal(accepted, acked.Values.Sum());
    }
}
