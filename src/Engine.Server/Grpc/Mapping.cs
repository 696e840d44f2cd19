using Engine.Abstractions;
using Engine.Api.V1;
using Engine.Core;
using Engine.Grains;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using SegmentKind = Engine.Api.V1.SegmentKind;

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
            RScore = v.RScore,
            FScore = v.FScore,
            MScore = v.MScore,
        };
        if (v.RScore > 0)
        {
            var segment = RfmScores.SegmentOf(v.RScore, v.FScore);
            (c.RfmSegmentId, c.RfmSegment) = (segment.Id, segment.Name);
        }
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
            Kind = (SegmentKind)(int)t.Kind,
        };
        foreach (var d in t.Drivers ?? [])
        {
            proto.Drivers.Add(new Engine.Api.V1.FeatureContribution { Feature = d.Feature, Contribution = d.Contribution });
        }
        return proto;
    }

    /// <summary>A kind on the wire as the domain's (the values match).</summary>
    public static Engine.Core.SegmentKind ToKind(SegmentKind kind) => (Engine.Core.SegmentKind)(int)kind;

    /// <summary>INVALID_ARGUMENT naming <paramref name="field"/> when a kind is not one the API defines.</summary>
    public static void CheckKinds(IEnumerable<SegmentKind> kinds, string field)
    {
        if (kinds.Any(k => !System.Enum.IsDefined(k)))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{field}: must be LEARNED or RFM"));
        }
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
            s.WithValue(p.Count, p.PAliveSum, p.ClvSum);
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
            return [new Segment { SegmentId = ModelSnapshot.Unassigned, Name = ModelSnapshot.Unassigned, Size = sizes.GetValueOrDefault(ModelSnapshot.Unassigned), Kind = SegmentKind.Learned }];
        }
        var centroids = ModelMath.CentroidsInOriginalUnits(model);
        var segments = new Segment[model.K];
        for (var c = 0; c < model.K; c++)
        {
            var s = new Segment { SegmentId = model.SegmentIds[c], Name = model.Names[c], Size = sizes.GetValueOrDefault(model.SegmentIds[c]), Kind = SegmentKind.Learned };
            for (var j = 0; j < model.D; j++)
            {
                s.Centroid[FeatureNames.All[j]] = centroids[c][j];
            }
            segments[c] = s;
        }
        return segments;
    }

    /// <summary>The ten named RFM segments with their sizes and shares, from the shards' tallies.</summary>
    public static Segment[] RfmSegments(RfmTally tally)
    {
        var customers = tally.Customers.Sum();
        var revenue = tally.Monetary.Sum();
        return [.. RfmScores.Segments.Select((segment, i) => new Segment
        {
            SegmentId = segment.Id,
            Name = segment.Name,
            Kind = SegmentKind.Rfm,
            Size = tally.Customers[i],
            ShareOfCustomers = customers == 0 ? 0 : (double)tally.Customers[i] / customers,
            ShareOfRevenue = revenue == 0 ? 0 : tally.Monetary[i] / revenue,
        }.WithValue(tally.Customers[i], tally.PAliveSums[i], tally.ClvSums[i]))];
    }

    /// <summary>A segment's customer value from its members' sums: mean CLV and p_alive, and the CLVs' sum.</summary>
    private static Segment WithValue(this Segment s, long members, double pAliveSum, double clvSum)
    {
        if (members > 0)
        {
            (s.MeanPAlive, s.MeanClv, s.ExpectedRevenue) = (pAliveSum / members, clvSum / members, clvSum);
        }
        return s;
    }

    public static Engine.Api.V1.RfmCutPoints ToProto(this Engine.Abstractions.RfmCutPoints cuts)
    {
        var proto = new Engine.Api.V1.RfmCutPoints { Customers = cuts.Customers };
        proto.RecencyDays.AddRange(cuts.RecencyDays.Select(v => (double)v));
        proto.Frequency.AddRange(cuts.Frequency.Select(v => (double)v));
        proto.Monetary.AddRange(cuts.Monetary.Select(v => (double)v));
        return proto;
    }

    public static Timestamp ToTimestamp(DateTime utc) =>
        Timestamp.FromDateTime(DateTime.SpecifyKind(utc, DateTimeKind.Utc));
}
