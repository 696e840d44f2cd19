using Engine.Api.V1;
using Engine.Grains;
using Grpc.Core;

namespace Engine.Server.Grpc;

/// <summary>IngestService: validate at the edge, then hand the valid events to the silo's ingest pipeline.</summary>
public sealed class IngestGrpcService(EventValidator validator, IngestPipeline pipeline) : IngestService.IngestServiceBase
{
    public override Task<IngestResponse> Ingest(IngestRequest request, ServerCallContext context) =>
        IngestAsync(request, context.CancellationToken);

    public override async Task IngestStream(IAsyncStreamReader<IngestRequest> requestStream,
        IServerStreamWriter<IngestResponse> responseStream, ServerCallContext context)
    {
        // One response per request, in order: each request is acknowledged before the next is read.
        await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
        {
            await responseStream.WriteAsync(await IngestAsync(request, context.CancellationToken));
        }
    }

    private async Task<IngestResponse> IngestAsync(IngestRequest request, CancellationToken ct)
    {
        var (valid, rejected) = validator.Validate(request);
        var outcome = await pipeline.SubmitAsync(valid, ct);
        var response = new IngestResponse
        {
            Accepted = outcome.Accepted,
            Duplicates = outcome.Duplicates,
            LastSequence = outcome.LastSequence,
        };
        response.Rejected.AddRange(rejected);
        return response;
    }
}
