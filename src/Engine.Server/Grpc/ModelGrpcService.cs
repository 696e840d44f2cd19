using Engine.Abstractions;
using Engine.Api.V1;
using Engine.Core;
using Engine.Grains;
using Grpc.Core;

namespace Engine.Server.Grpc;

/// <summary>ModelService: retrain on demand and read the published model.</summary>
public sealed class ModelGrpcService(IGrainFactory grains, ModelReplica models, Alerts.WebhookFilters webhooks) : ModelService.ModelServiceBase
{
    public const int MinK = 2;
    public const int MaxK = 50;

    public override async Task<RetrainResponse> Retrain(RetrainRequest request, ServerCallContext context)
    {
        var k = request.K;
        if (k != 0 && k is < MinK or > MaxK)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"k: must be {MinK}-{MaxK}, or 0 to choose k by silhouette, got {request.K}"));
        }
        var outcome = await grains.GetGrain<ISegmentCoordinatorGrain>(0).RetrainAsync(k, "manual");
        models.Offer(outcome.Model);
        return ToResponse(outcome);
    }

    public override async Task<RetrainResponse> Rollback(RollbackRequest request, ServerCallContext context)
    {
        if (request.Version < 1)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"version: must be >= 1, got {request.Version}"));
        }
        var outcome = await grains.GetGrain<ISegmentCoordinatorGrain>(0).RollbackAsync(request.Version);
        models.Offer(outcome.Model);
        return ToResponse(outcome);
    }

    public override async Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var size = Paging.Size(request.PageSize);
        await models.RefreshAsync();
        // Versions are numbered 1, 2, ... without gaps; the token is the last version returned.
        var from = models.Current?.Version ?? 0;
        if (request.PageToken.Length > 0)
        {
            var last = Paging.NumberAfter(request.PageToken);
            from = last <= from + 1 ? last - 1 : throw Paging.NotAToken();
        }
        var response = new ListModelsResponse();
        for (var version = from; version >= 1 && response.Models.Count < size; version--)
        {
            // From the coordinator, not this silo's replica: a retired model's metrics are added when it retires.
            if (await grains.GetGrain<ISegmentCoordinatorGrain>(0).GetModelAsync(version) is { } model)
            {
                response.Models.Add(ToModel(model));
            }
        }
        var oldest = from - size + 1;
        if (response.Models.Count == size && oldest > 1)
        {
            response.NextPageToken = PageTokens.Encode(oldest.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        return response;
    }

    public override async Task<CompareModelsResponse> CompareModels(CompareModelsRequest request, ServerCallContext context)
    {
        var a = await ModelAsync(request.A, "a");
        var b = await ModelAsync(request.B, "b");
        var counts = await grains.GetGrain<ISegmentCoordinatorGrain>(0).CompareModelsAsync(a, b);
        return new CompareModelsResponse
        {
            A = a.Version, B = b.Version, SegmentIdsA = { a.SegmentIds }, SegmentIdsB = { b.SegmentIds }, Counts = { counts },
            Customers = counts.Sum(),
        };
    }

    /// <summary>Model <paramref name="version"/> (0 = the current one) or NOT_FOUND naming <paramref name="field"/>.</summary>
    private async Task<ModelSnapshot> ModelAsync(long version, string field)
    {
        if (version < 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{field}: must be >= 0, got {version}"));
        }
        await models.RefreshAsync();
        var model = version == 0 ? models.Current : await models.GetAsync(version);
        return model ?? throw new RpcException(new Status(StatusCode.NotFound, version == 0
            ? $"{field}: there is no model yet"
            : $"{field}: no model {version} was published"));
    }

    private static RetrainResponse ToResponse(RetrainOutcome outcome) => new()
    {
        ModelVersion = outcome.Model.Version,
        K = outcome.Model.K,
        Inertia = outcome.Model.Inertia,
        Iterations = outcome.Model.Iterations,
        Seconds = outcome.Seconds,
        Customers = outcome.Model.Customers,
        Reassigned = outcome.Reassigned,
        Excluded = outcome.Excluded,
        Candidates =
        {
            outcome.Candidates.Select(c => new Engine.Api.V1.KCandidate
            {
                K = c.K, Inertia = c.Inertia, Silhouette = c.Silhouette, Iterations = c.Iterations, SampleSize = c.SampleSize,
            }),
        },
    };

    public override async Task<Segment> RenameSegment(RenameSegmentRequest request, ServerCallContext context)
    {
        await models.RefreshAsync();
        var before = models.Current is { } current && current.SegmentIds.Contains(request.SegmentId) ? current.NameOf(request.SegmentId) : null;
        var model = await grains.GetGrain<ISegmentCoordinatorGrain>(0).RenameSegmentAsync(request.SegmentId, request.Name);
        models.Offer(model);
        if (before is not null)
        {
            await webhooks.RenameInFiltersAsync(before, request.Name, context.CancellationToken);
        }
        return Mapping.Segments(model, new Dictionary<string, long>()).Single(s => s.SegmentId == request.SegmentId);
    }

    public override async Task<GetDriftResponse> GetDrift(GetDriftRequest request, ServerCallContext context)
    {
        var report = await grains.GetGrain<ISegmentCoordinatorGrain>(0).GetDriftAsync();
        if (report is null)
        {
            return new GetDriftResponse();
        }
        var response = new GetDriftResponse
        {
            ModelVersion = report.ModelVersion,
            SegmentPsi = report.SegmentPsi,
            Threshold = report.Threshold,
            Drifted = report.Drifted,
            Customers = report.Customers,
        };
        for (var j = 0; j < report.FeaturePsi.Length; j++)
        {
            response.FeaturePsi[FeatureNames.All[j]] = report.FeaturePsi[j];
        }
        return response;
    }

    public override async Task<Model> GetModel(GetModelRequest request, ServerCallContext context)
    {
        if (request.Version < 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"version: must be >= 0, got {request.Version}"));
        }
        await models.RefreshAsync();
        var model = request.Version == 0
            ? models.Current
            : await grains.GetGrain<ISegmentCoordinatorGrain>(0).GetModelAsync(request.Version)
                ?? throw new RpcException(new Status(StatusCode.NotFound, $"version: no model {request.Version} was published"));
        if (model is null)
        {
            return new Model { Version = 0 };
        }
        return ToModel(model);
    }

    private static Model ToModel(ModelSnapshot model)
    {
        var result = new Model
        {
            Version = model.Version,
            K = model.K,
            TrainedAt = Mapping.ToTimestamp(model.TrainedAt),
            Customers = model.Customers,
            Inertia = model.Inertia,
            Reason = model.Reason,
            Silhouette = model.Silhouette,
            RetiredDriftPsi = model.RetiredDriftPsi ?? 0,
            RolledBackFrom = model.RolledBackFrom,
            Iterations = model.Iterations,
        };
        if (model.RetiredAt is { } retired)
        {
            result.RetiredAt = Mapping.ToTimestamp(retired);
        }
        result.TrainedSizes.AddRange(model.TrainedSizes ?? []);
        if (model.Clv is { } clv)
        {
            (result.ClvR, result.ClvAlpha, result.ClvA, result.ClvB) = (clv.R, clv.Alpha, clv.A, clv.B);
            result.ClvBgnbdLogLikelihood = clv.BgNbdLogLikelihood;
            result.ClvAsOf = Mapping.ToTimestamp(clv.AsOf);
            if (clv.GammaGamma is { } gg)
            {
                (result.ClvP, result.ClvQ, result.ClvGamma) = (gg.P, gg.Q, gg.Gamma);
                result.ClvGammaGammaLogLikelihood = gg.LogLikelihood;
            }
        }
        result.Segments.AddRange(Mapping.Segments(model, new Dictionary<string, long>()));
        result.Features.AddRange(FeatureNames.All);
        result.ScalerMean.AddRange(model.ScalerMean);
        result.ScalerStd.AddRange(model.ScalerStd);
        result.RfmCutPoints = model.Rfm?.ToProto();
        return result;
    }
}
