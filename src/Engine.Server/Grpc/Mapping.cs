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
        if (v.Value is { } value)
        {
            c.PAlive = value.PAlive;
            c.ChurnRisk = value.ChurnRisk;
            c.ExpectedPurchases = value.ExpectedPurchases;
            c.ExpectedOrderValue = value.ExpectedOrderValue;
            c.Clv = value.Clv;
        }
        return c;
    }

    public static Transition ToProto(this TransitionRecord t)
    {
        var proto = new Transition
        {
            FromSegmentId = t.FromSegmentId,
            ToSegmentId = t.ToSegmentId,
            At = ToTimestamp(t.At),
            Cause = (Cause)(int)t.Cause,
            ModelVersion = t.ModelVersion,
            FromSegmentName = t.FromSegmentName ?? "",
            ToSegmentName = t.ToSegmentName ?? "",
        };
        foreach (var d in t.Drivers ?? [])
        {
            proto.Drivers.Add(new Engine.Api.V1.FeatureContribution { Feature = d.Feature, Contribution = d.Contribution });
        }
        return proto;
    }

    /// <summary>Segments with their profiles: shares of customers and revenue, feature means and lifts.</summary>
    public static Segment[] Profiles(ModelSnapshot? model, IReadOnlyDictionary<string, SegmentProfile> profiles)
    {
        var segments = Segments(model, profiles.ToDictionary(p => p.Key, p => p.Value.Count));
        var d = FeatureNames.Count;
        var total = profiles.Values.Sum(p => p.Count);
        var population = new double[d];
        foreach (var p in profiles.Values)
        {
            for (var j = 0; j < d; j++)
            {
                population[j] += p.Sums[j];
            }
        }
        var monetary = FeatureNames.IndexOf(FeatureNames.Monetary);
        foreach (var s in segments)
        {
            if (!profiles.TryGetValue(s.SegmentId, out var p) || p.Count == 0)
            {
                continue;
            }
            s.ShareOfCustomers = (double)p.Count / total;
            s.ShareOfRevenue = population[monetary] == 0 ? 0 : p.Sums[monetary] / population[monetary];
            for (var j = 0; j < d; j++)
            {
                var mean = p.Sums[j] / p.Count;
                var populationMean = population[j] / total;
                s.Mean[FeatureNames.All[j]] = mean;
                s.Lift[FeatureNames.All[j]] = populationMean == 0 ? 0 : mean / populationMean;
            }
        }
        return segments;
    }

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
