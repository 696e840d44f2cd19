namespace Engine.Abstractions;

/// <summary>
/// A customer's live view as served by <c>SegmentService.GetCustomer</c>. The RFM scores are 1–5 against the current
/// model's cut points, 0 without a purchase or without cut points.
/// </summary>
[GenerateSerializer, Immutable, Alias("engine.CustomerView")]
public sealed record CustomerView(
    [property: Id(0)] string CustomerId,
    [property: Id(1)] string SegmentId,
    [property: Id(2)] string SegmentName,
    [property: Id(3)] long ModelVersion,
    [property: Id(4)] double RecencyDays,
    [property: Id(5)] long Frequency,
    [property: Id(6)] double Monetary,
    [property: Id(7)] double[] Features,
    [property: Id(8)] double Distance,
    [property: Id(9)] DateTime LastEventAt,
    [property: Id(10)] DateTime AsOf,
    [property: Id(11)] long EventCount,
    [property: Id(12)] double Confidence,
    [property: Id(13)] string SecondSegmentId,
    [property: Id(14)] double Margin,
    [property: Id(15)] int RScore = 0,
    [property: Id(16)] int FScore = 0,
    [property: Id(17)] int MScore = 0,
    [property: Id(20)] CustomerValue? Value = null);
