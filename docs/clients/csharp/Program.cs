// Engine from C#: send a purchase, look the customer up, list the segments.
//   dotnet run --project docs/clients/csharp -- http://localhost:5000 alice
// A server with API keys (docs/security.md) needs one: ENGINE_API_KEY=<key>, sent as `authorization: Bearer <key>`.
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;

var (server, customerId) = (args.ElementAtOrDefault(0) ?? "http://localhost:5000", args.ElementAtOrDefault(1) ?? "alice");
using var channel = GrpcChannel.ForAddress(server);
var ingest = new IngestService.IngestServiceClient(channel);
var segments = new SegmentService.SegmentServiceClient(channel);
var headers = Environment.GetEnvironmentVariable("ENGINE_API_KEY") is { Length: > 0 } key ? new Metadata { { "authorization", $"Bearer {key}" } } : null;

var response = await ingest.IngestAsync(new IngestRequest
{
    Events =
    {
        new Event
        {
            EventId = "cs-order-1", CustomerId = customerId, Type = EventType.Purchase, Amount = 42.5,
            OccurredAt = Timestamp.FromDateTime(DateTime.UtcNow), Category = "books",
        },
    },
}, headers);
Console.WriteLine($"ingest: {response.Accepted} accepted, {response.Duplicates} duplicates");

try
{
    var customer = await segments.GetCustomerAsync(new GetCustomerRequest { CustomerId = customerId }, headers);
    Console.WriteLine($"customer: {customer.CustomerId} in {customer.SegmentName}, frequency {customer.Rfm.Frequency}, monetary {customer.Rfm.Monetary}");
}
catch (RpcException e)
{
    // NOT_FOUND, INVALID_ARGUMENT (the detail names the field), UNAVAILABLE (retry on another silo).
    Console.Error.WriteLine($"error: {e.StatusCode} {e.Status.Detail}");
    return 1;
}

var listing = await segments.ListSegmentsAsync(new ListSegmentsRequest(), headers);
Console.WriteLine($"segments: {string.Join(", ", listing.Segments.Select(s => $"{s.SegmentId} {s.Name} ({s.Size})"))}");
return 0;
