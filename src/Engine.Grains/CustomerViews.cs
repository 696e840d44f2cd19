using Engine.Abstractions;
using Engine.Core;

namespace Engine.Grains;

/// <summary>
/// A customer's lookup view from what it is computed from: the same for the grain and for the silo's lookup cache
/// (<see cref="CustomerLookupCache"/>), so that either answers alike.
/// </summary>
public static class CustomerViews
{
    /// <summary>
    /// The view at <paramref name="asOf"/> under <paramref name="model"/>: features and RFM from the profile, and, for
    /// an assigned customer, its distance to its segment and the runner-up. Time may have moved the customer off its
    /// segment since its last event; the view then reports where it stands now (the move itself is the sweep's).
    /// </summary>
    public static CustomerView Of(string customerId, CustomerProfile profile, string segmentId, long modelVersion, ModelSnapshot? model,
        DateTime asOf, ModelOptions options)
    {
        var raw = new double[FeatureNames.Count];
        profile.ComputeFeatures(asOf, raw);
        var rfm = profile.ComputeRfm(asOf);
        var name = segmentId;
        var (distance, confidence, second, margin) = (0.0, 0.0, "", 0.0);
        if (model is not null && segmentId != ModelSnapshot.Unassigned)
        {
            var x = ModelMath.Scale(model, raw);
            var membership = SoftMembership.Of(x, model.Centroids, model.K, options.SoftmaxTemperature);
            var index = Array.IndexOf(model.SegmentIds, segmentId);
            if (index == membership.Index)
            {
                (distance, confidence) = (membership.Distance, membership.Confidence);
                second = membership.SecondIndex < 0 ? "" : model.SegmentIds[membership.SecondIndex];
                margin = double.IsFinite(membership.Margin) ? membership.Margin : 0;
            }
            else if (index >= 0)
            {
                distance = System.Numerics.Tensors.TensorPrimitives.Distance(x, model.Centroids.AsSpan(index * model.D, model.D));
                second = model.SegmentIds[membership.Index];
                margin = membership.Distance - distance;
            }
            name = model.NameOf(segmentId);
        }
        var (r, f, m) = RfmRules.Scores(model?.Rfm, rfm);
        return new CustomerView(
            customerId, segmentId, name, modelVersion, rfm.RecencyDays, rfm.Frequency, rfm.Monetary,
            raw, distance, profile.LastEventAt ?? default, asOf, profile.EventCount, confidence, second, margin, r, f, m,
            model?.Clv is { } clv && profile.PurchaseHistory is { } history
                ? CustomerValue.Of(clv, history, asOf, options.ClvHorizon)
                : null);
    }

    /// <summary>
    /// Whether a model newer than the customer's keeps it where it is, in its learned and its RFM segment: then it needs
    /// no transition, only the version. (One that moves it leaves the move to its rollout or the customer's next batch:
    /// RETRAIN.)
    /// </summary>
    public static bool Keeps(ModelSnapshot model, CustomerProfile profile, string segmentId, string? rfmSegmentId, DateTime asOf, ModelOptions options)
    {
        var raw = new double[FeatureNames.Count];
        profile.ComputeFeatures(asOf, raw);
        var membership = SoftMembership.Of(ModelMath.Scale(model, raw), model.Centroids, model.K, options.SoftmaxTemperature);
        return model.SegmentIds[membership.Index] == segmentId
            && (RfmRules.SegmentOf(model.Rfm, profile.ComputeRfm(asOf)) is not { } rfmSegment || rfmSegment.Id == rfmSegmentId);
    }
}
