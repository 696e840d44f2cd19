namespace Engine.Core;

/// <summary>The feature vector's names, in vector order. One name, used the same in the proto, the README and metrics.</summary>
public static class FeatureNames
{
    public const string RecencyDays = "recency_days";
    public const string Frequency = "frequency";
    public const string Monetary = "monetary";
    public const string AvgOrderValue = "avg_order_value";
    public const string TenureDays = "tenure_days";
    public const string Purchases90d = "purchases_90d";
    public const string Sessions30d = "sessions_30d";
    public const string CartAbandonRate90d = "cart_abandon_rate_90d";
    public const string SupportTickets90d = "support_tickets_90d";
    public const string CategoryCount = "category_count";
    public const string RefundRate = "refund_rate";

    public static readonly string[] All =
    [
        RecencyDays, Frequency, Monetary, AvgOrderValue, TenureDays, Purchases90d, Sessions30d,
        CartAbandonRate90d, SupportTickets90d, CategoryCount, RefundRate,
    ];

    public static int Count => All.Length;

    public static int IndexOf(string name)
    {
        var i = Array.IndexOf(All, name);
        return i >= 0 ? i : throw new ArgumentException($"Unknown feature '{name}'.", nameof(name));
    }
}

/// <summary>Recency (days), frequency (purchases) and monetary value (purchases − refunds).</summary>
public readonly record struct Rfm(double RecencyDays, long Frequency, double Monetary);
