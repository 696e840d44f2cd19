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
        return new RetrainResponse
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
    }

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
            : await models.GetAsync(request.Version) ?? throw new RpcException(new Status(StatusCode.NotFound, $"version: no model {request.Version} was published"));
        if (model is null)
        {
            return new Model { Version = 0 };
        }
        var result = new Model
        {
            Version = model.Version,
            K = model.K,
            TrainedAt = Mapping.ToTimestamp(model.TrainedAt),
            Customers = model.Customers,
            Inertia = model.Inertia,
            Reason = model.Reason,
        };
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
        return result;
    }
}
