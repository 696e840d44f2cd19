using Engine.Api.V1;
using Engine.Core;
using Engine.Storage;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Engine.Server.Grpc;

/// <summary>AnalyticsService: population tables computed from the ingest log.</summary>
public sealed class AnalyticsGrpcService(ICohortSource source) : AnalyticsService.AnalyticsServiceBase
{
    public override async Task<GetCohortsResponse> GetCohorts(GetCohortsRequest request, ServerCallContext context)
    {
        var period = request.Period switch
        {
            Api.V1.CohortPeriod.Unspecified or Api.V1.CohortPeriod.Month => Core.CohortPeriod.Month,
            Api.V1.CohortPeriod.Week => Core.CohortPeriod.Week,
            _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"period: unknown value {(int)request.Period}")),
        };
        var metric = request.Metric switch
        {
            CohortMetric.Unspecified or CohortMetric.Customers => CohortMetric.Customers,
            CohortMetric.Revenue => CohortMetric.Revenue,
            _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"metric: unknown value {(int)request.Metric}")),
        };
        DateTime? from = request.From?.ToDateTime();
        DateTime? to = request.To?.ToDateTime();
        if (from is { } f && to is { } t && t <= f)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "to: must be after from"));
        }
        var builder = new CohortTableBuilder(period, from, to);
        await source.ScanCohortEventsAsync(builder.AddCustomer, context.CancellationToken);
        var (rows, through) = builder.Build();
        var response = new GetCohortsResponse { Period = (Api.V1.CohortPeriod)(int)period, Metric = metric };
        if (through is { } th)
        {
            response.Through = Timestamp.FromDateTime(th);
        }
        foreach (var row in rows)
        {
            var cohort = new Cohort { Start = Timestamp.FromDateTime(row.Start), Size = row.Size };
            cohort.Values.AddRange(metric == CohortMetric.Revenue ? row.Revenue : row.Customers.Select(c => (double)c));
            response.Cohorts.Add(cohort);
        }
        return response;
    }
}
