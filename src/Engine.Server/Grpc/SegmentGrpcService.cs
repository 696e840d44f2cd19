using Engine.Abstractions;
using Engine.Api.V1;
using Engine.Core;
using Engine.Grains;
using Engine.Storage;
using Grpc.Core;

namespace Engine.Server.Grpc;

/// <summary>SegmentService: customer lookups and history from the customer grains, population views from shards and the transition log.</summary>
public sealed class SegmentGrpcService(CustomerGrains customers, PopulationQueries queries, SegmentMembers members, ModelReplica models, EngineClock clock) : SegmentService.SegmentServiceBase
{
    public const int MaxBatch = 1000;

    public override async Task<Customer> GetCustomer(GetCustomerRequest request, ServerCallContext context)
    {
        CheckId(request.CustomerId, "customer_id");
        var view = await customers.GetViewAsync(request.CustomerId)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"customer_id: no customer '{request.CustomerId}'"));
        return view.ToProto();
    }

    public override async Task<BatchGetCustomersResponse> BatchGetCustomers(BatchGetCustomersRequest request, ServerCallContext context)
    {
        if (request.CustomerIds.Count > MaxBatch)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"customer_ids: at most {MaxBatch} ids, got {request.CustomerIds.Count}"));
        }
        for (var i = 0; i < request.CustomerIds.Count; i++)
        {
            CheckId(request.CustomerIds[i], $"customer_ids[{i}]");
        }
        var views = await Task.WhenAll(request.CustomerIds.Select(id => customers.GetViewAsync(id).AsTask()));
        var response = new BatchGetCustomersResponse();
        for (var i = 0; i < views.Length; i++)
        {
            if (views[i] is { } v)
            {
                response.Customers.Add(v.ToProto());
            }
            else
            {
                response.NotFound.Add(request.CustomerIds[i]);
            }
        }
        return response;
    }

    public override async Task<GetHistoryResponse> GetHistory(GetHistoryRequest request, ServerCallContext context)
    {
        CheckId(request.CustomerId, "customer_id");
        if (request.Limit < 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"limit: must be >= 0, got {request.Limit}"));
        }
        var grain = customers.Get(request.CustomerId);
        if (await grain.GetAsync() is null)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"customer_id: no customer '{request.CustomerId}'"));
        }
        Mapping.CheckKinds(request.Kinds, "kinds");
        var kinds = SegmentKinds.Requested(request.Kinds.Select(Mapping.ToKind));
        var history = (await grain.GetHistoryAsync(0)).Where(t => kinds.Contains(t.Kind)).ToArray();
        var response = new GetHistoryResponse();
        if (request.PageSize == 0 && request.PageToken.Length == 0)
        {
            response.Transitions.AddRange(history.Take(request.Limit == 0 ? history.Length : request.Limit).Select(t => t.ToProto()));
            return response;
        }
        var (page, next) = Paging.Page(history, request.PageSize, request.PageToken,
            t => t.Number.ToString(System.Globalization.CultureInfo.InvariantCulture), Paging.NumericDescending);
        response.Transitions.AddRange(page.Select(t => t.ToProto()));
        response.NextPageToken = next;
        return response;
    }

    public override async Task<ListSegmentsResponse> ListSegments(ListSegmentsRequest request, ServerCallContext context)
    {
        await models.RefreshAsync();
        var model = models.Current;
        var response = new ListSegmentsResponse { ModelVersion = model?.Version ?? 0 };
        response.Segments.AddRange(Mapping.Profiles(model, await queries.ProfilesAsync()));
        return response;
    }

    public override async Task<ListRfmSegmentsResponse> ListRfmSegments(ListRfmSegmentsRequest request, ServerCallContext context)
    {
        await models.RefreshAsync();
        var response = new ListRfmSegmentsResponse();
        if (await queries.RfmTallyAsync() is var (model, tally))
        {
            response.ModelVersion = model.Version;
            response.Segments.AddRange(Mapping.RfmSegments(tally));
            response.CustomersWithoutPurchase = tally.WithoutPurchase;
        }
        return response;
    }

    public override async Task<ListSegmentMembersResponse> ListSegmentMembers(ListSegmentMembersRequest request, ServerCallContext context)
    {
        var size = Paging.Size(request.PageSize);
        if (!(request.MinConfidence is >= 0 and <= 1))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"min_confidence: must be 0 to 1, got {request.MinConfidence}"));
        }
        if (request.PageToken.Length == 0 && request.Segment.Length == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "segment: required (a segment id or name)"));
        }
        MembersPage page;
        try
        {
            page = await members.PageAsync(request.Segment, size, request.PageToken, request.MinConfidence);
        }
        catch (MembersPageException e)
        {
            var code = e.NotFound ? StatusCode.NotFound : e.Expired ? StatusCode.FailedPrecondition : StatusCode.InvalidArgument;
            throw new RpcException(new Status(code, e.Message));
        }
        var response = new ListSegmentMembersResponse
        {
            NextPageToken = page.NextPageToken ?? "",
            SegmentId = page.SegmentId,
            SegmentName = page.SegmentName,
            ModelVersion = page.ModelVersion,
            TotalSize = page.TotalSize,
        };
        response.Customers.AddRange(page.Customers.Select(c => c.ToProto()));
        return response;
    }

    public override async Task<GetTransitionMatrixResponse> GetTransitionMatrix(GetTransitionMatrixRequest request, ServerCallContext context)
    {
        DateTime? from = request.From?.ToDateTime();
        DateTime? to = request.To?.ToDateTime();
        if (from is { } f && to is { } t && t < f)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "to: must not be before from"));
        }
        var causes = request.Causes.Select(c => (TransitionCause)(int)c).ToArray();
        Mapping.CheckKinds([request.Kind], "kind");
        var kind = request.Kind == Engine.Api.V1.SegmentKind.Rfm ? Engine.Core.SegmentKind.Rfm : Engine.Core.SegmentKind.Learned;
        var matrix = await queries.TransitionMatrixAsync(from, to, request.ModelVersion == 0 ? null : request.ModelVersion, causes, kind,
            context.CancellationToken);
        var response = new GetTransitionMatrixResponse();
        response.SegmentIds.AddRange(matrix.SegmentIds);
        response.Counts.AddRange(matrix.Counts);
        response.Probabilities.AddRange(matrix.Probabilities);
        response.Entries.AddRange(matrix.Entries);
        return response;
    }

    public override async Task<ForecastResponse> Forecast(ForecastRequest request, ServerCallContext context)
    {
        var period = request.Period?.ToTimeSpan() ?? TimeSpan.FromDays(30);
        if (period <= TimeSpan.Zero)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "period: must be positive"));
        }
        var periods = request.Periods == 0 ? 3 : request.Periods;
        if (periods is < 1 or > 120)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"periods: must be 1-120, got {request.Periods}"));
        }
        var to = request.To?.ToDateTime() ?? clock.Now;
        var from = request.From?.ToDateTime() ?? to - 4 * period;
        if (from >= to)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "from: must be before to"));
        }
        var forecast = await queries.ForecastAsync(period, periods, from, to, context.CancellationToken)
            ?? throw new RpcException(new Status(StatusCode.FailedPrecondition, "no model yet: nothing to forecast"));
        var response = new ForecastResponse();
        response.SegmentIds.AddRange(forecast.SegmentIds);
        response.ObservedSizes.AddRange(forecast.ObservedSizes);
        response.Matrix.AddRange(forecast.Matrix);
        for (var t = 0; t < forecast.Steps.Length; t++)
        {
            response.Steps.Add(new ForecastStep { Period = t + 1, Sizes = { forecast.Steps[t] } });
        }
        return response;
    }

    internal static void CheckId(string id, string field)
    {
        if (id.Length is 0 or > EventValidator.MaxIdLength)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{field}: must be 1-{EventValidator.MaxIdLength} characters, got {id.Length}"));
        }
    }
}
