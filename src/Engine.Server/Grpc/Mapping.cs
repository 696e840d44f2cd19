using Engine.Abstractions;
using Engine.Api.V1;
using Engine.Core;
using Engine.Grains;
using Google.Protobuf.WellKnownTypes;

namespace Engine.Server.Grpc;

/// <summary>Maps grain records to wire types at the edge.</summary>
public static class Mapping
{
    public static Customer ToProto(this CustomerView v)
    {
        var c = new Customer
        {
            CustomerId = v.CustomerId,
            SegmentId = v.SegmentId,
            SegmentName = v.SegmentName,
            ModelVersion = v.ModelVersion,
            Rfm = new Engine.Api.V1.Rfm { RecencyDays = v.RecencyDays, Frequency = v.Frequency, Monetary = v.Monetary },
            Distance = v.Distance,
            LastEventAt = ToTimestamp(v.LastEventAt),
            AsOf = ToTimestamp(v.AsOf),
            EventCount = v.EventCount,
            Confidence = v.Confidence,
            SecondSegmentId = v.SecondSegmentId,
            Margin = v.Margin,
        };
        for (var j = 0; j < FeatureNames.Count; j++)
        {
            c.Features[FeatureNames.All[j]] = v.Features[j];
        }
        return c;
    }

    public static Transition ToProto(this TransitionRecord t) => new()
    {
        FromSegmentId = t.FromSegmentId,
        ToSegmentId = t.ToSegmentId,
        At = ToTimestamp(t.At),
        Cause = (Cause)(int)t.Cause,
        ModelVersion = t.ModelVersion,
    };

    public static Segment[] Segments(ModelSnapshot? model, IReadOnlyDictionary<string, long> sizes)
    {
        if (model is null)
        {
            return [new Segment { SegmentId = ModelSnapshot.Unassigned, Name = ModelSnapshot.Unassigned, Size = sizes.GetValueOrDefault(ModelSnapshot.Unassigned) }];
        }
        var centroids = ModelMath.CentroidsInOriginalUnits(model);
        var segments = new Segment[model.K];
        for (var c = 0; c < model.K; c++)
        {
            var s = new Segment { SegmentId = model.SegmentIds[c], Name = model.Names[c], Size = sizes.GetValueOrDefault(model.SegmentIds[c]) };
            for (var j = 0; j < model.D; j++)
            {
                s.Centroid[FeatureNames.All[j]] = centroids[c][j];
            }
            segments[c] = s;
        }
        return segments;
    }

    public static Timestamp ToTimestamp(DateTime utc) =>
        Timestamp.FromDateTime(DateTime.SpecifyKind(utc, DateTimeKind.Utc));
}
