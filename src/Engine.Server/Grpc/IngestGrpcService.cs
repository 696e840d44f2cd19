using System.Threading.Channels;
using Engine.Api.V1;
using Engine.Grains;
using Grpc.Core;

namespace Engine.Server.Grpc;

/// <summary>IngestService: validate at the edge, then hand the valid events to the silo's ingest pipeline.</summary>
public sealed class IngestGrpcService(EventValidator validator, IngestPipeline pipeline) : IngestService.IngestServiceBase
{
    /// <summary>Requests of one stream that may be queued or being committed at once.</summary>
    public const int StreamWindow = 64;

    public override async Task<IngestResponse> Ingest(IngestRequest request, ServerCallContext context) =>
        await await StartAsync(request, context.CancellationToken);

    public override async Task IngestStream(IAsyncStreamReader<IngestRequest> requestStream,
        IServerStreamWriter<IngestResponse> responseStream, ServerCallContext context)
    {
        // A stream is pipelined: requests are read and queued for commit while earlier ones are still being applied,
        // so one client keeps the group commit fed. Responses go back strictly in request order.
        var inFlight = Channel.CreateBounded<Task<IngestResponse>>(new BoundedChannelOptions(StreamWindow) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var reading = Task.Run(async () =>
        {
            try
            {
                await foreach (var request in requestStream.ReadAllAsync(stop.Token))
                {
                    await inFlight.Writer.WriteAsync(await StartAsync(request, stop.Token), stop.Token);
                }
                inFlight.Writer.TryComplete();
            }
            catch (Exception ex)
            {
                inFlight.Writer.TryComplete(ex);
            }
        }, CancellationToken.None);
        try
        {
            await foreach (var response in inFlight.Reader.ReadAllAsync(CancellationToken.None))
            {
                await responseStream.WriteAsync(await response);
            }
        }
        finally
        {
            await stop.CancelAsync();
            await reading;
        }
    }

    /// <summary>Validates and queues a request; the task completes with its response once its events are durable and applied.</summary>
    private async Task<Task<IngestResponse>> StartAsync(IngestRequest request, CancellationToken ct)
    {
        try
        {
            var (valid, rejected) = validator.Validate(request);
            var done = await pipeline.EnqueueAsync(valid, ct);
            return RespondAsync(done, rejected);
        }
        catch (Exception ex) when (ex is RpcException or ArgumentException)
        {
            // Reported in order, after the responses to the requests before it.
            return Task.FromException<IngestResponse>(ex);
        }
    }

    private static async Task<IngestResponse> RespondAsync(Task<IngestOutcome> done, IEnumerable<Rejection> rejected)
    {
        var outcome = await done;
        var response = new IngestResponse
        {
            Accepted = outcome.Accepted,
            Duplicates = outcome.Duplicates,
            LastSequence = outcome.LastLogPosition,
        };
        response.Rejected.AddRange(rejected);
        return response;
    }
}
