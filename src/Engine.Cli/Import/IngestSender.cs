using Engine.Api.V1;
using Grpc.Core;

namespace Engine.Cli.Import;

/// <summary>What an import did: rows read, the server's counts, and the rejections (each with its line number).</summary>
public sealed class ImportTotals(int keep, TextWriter? allRejections)
{
    private readonly List<(int Line, string Reason)> _first = [];

    /// <summary>Data rows read: skipped (after --until), accepted, duplicates and rejected add up to it.</summary>
    public long Rows { get; private set; }
    public long Skipped { get; set; }
    public long Accepted { get; private set; }
    public long Duplicates { get; private set; }
    public long Rejected { get; private set; }

    /// <summary>The first rejections, in line order within each request, at most the number kept.</summary>
    public IReadOnlyList<(int Line, string Reason)> FirstRejections => _first;

    public void Read() => Rows++;

    public void Reject(int line, string reason)
    {
        Rejected++;
        if (_first.Count < keep)
        {
            _first.Add((line, reason));
        }
        allRejections?.WriteLine($"{line}\t{reason.ReplaceLineEndings(" ")}");
    }

    public void Add(IngestResponse response)
    {
        Accepted += response.Accepted;
        Duplicates += response.Duplicates;
    }
}

/// <summary>
/// Streams events to <c>IngestStream</c> in requests of <c>batch</c> events, with at most <c>inFlight</c> requests
/// unanswered (memory stays bounded however long the file), optionally at most <c>rate</c> events a second. The server
/// answers requests in order, so each answer's rejections map back to the lines its request carried.
/// </summary>
public sealed class IngestSender(IngestService.IngestServiceClient client, int batch, int rate, int inFlight = 16)
{
    public async Task SendAsync(IEnumerable<ImportItem> items, ImportTotals totals, Action onProgress, CancellationToken ct)
    {
        using var call = client.IngestStream(cancellationToken: ct);
        var window = new SemaphoreSlim(inFlight);
        var pending = new Queue<List<int>>();
        var reader = Task.Run(async () =>
        {
            while (await call.ResponseStream.MoveNext(ct))
            {
                var response = call.ResponseStream.Current;
                List<int> lines;
                lock (pending)
                {
                    lines = pending.Dequeue();
                }
                lock (totals)
                {
                    totals.Add(response);
                    foreach (var r in response.Rejected)
                    {
                        totals.Reject(lines[r.Index], r.Reason);
                    }
                }
                window.Release();
                onProgress();
            }
        }, ct);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        long sent = 0;
        var request = new IngestRequest();
        var requestLines = new List<int>(batch);
        foreach (var item in items)
        {
            lock (totals)
            {
                totals.Read();
                if (item.Event is null)
                {
                    totals.Reject(item.Line, item.Rejection!);
                    continue;
                }
            }
            request.Events.Add(item.Event);
            requestLines.Add(item.Line);
            if (request.Events.Count == batch)
            {
                await SendOneAsync();
            }
        }
        if (request.Events.Count > 0)
        {
            await SendOneAsync();
        }
        await call.RequestStream.CompleteAsync();
        await reader;

        async Task SendOneAsync()
        {
            var room = window.WaitAsync(ct);
            if (await Task.WhenAny(room, reader) == reader)
            {
                // The server ended the call: its error (or its early end) is the import's.
                await reader;
                throw new RpcException(new Status(StatusCode.Unavailable, "the server closed the ingest stream"));
            }
            lock (pending)
            {
                // The request's own list: a new one is started for the next request below.
                pending.Enqueue(requestLines);
            }
            await call.RequestStream.WriteAsync(request, ct);
            sent += request.Events.Count;
            (request, requestLines) = (new IngestRequest(), new List<int>(batch));
            if (rate > 0 && TimeSpan.FromSeconds((double)sent / rate) - watch.Elapsed is { Ticks: > 0 } ahead)
            {
                await Task.Delay(ahead, ct);
            }
        }
    }

    /// <summary>A dry run: every row is read and mapped, nothing is sent.</summary>
    public static void Count(IEnumerable<ImportItem> items, ImportTotals totals, Action onProgress)
    {
        foreach (var item in items)
        {
            totals.Read();
            if (item.Event is null)
            {
                totals.Reject(item.Line, item.Rejection!);
            }
            onProgress();
        }
    }
}
