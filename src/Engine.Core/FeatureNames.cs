namespace Engine.Core;

/// <summary>The feature vector's names, in vector order. One name, used the same in the proto, the docs and metrics.</summary>
public static class FeatureNames
{
    /// <summary>Days since the last purchase.</summary>
    public const string RecencyDays = "recency_days";
    /// <summary>Lifetime purchase count.</summary>
    public const string Frequency = "frequency";
    /// <summary>Lifetime purchases minus refunds; can be negative.</summary>
    public const string Monetary = "monetary";
    /// <summary>Purchase amount per purchase: separates few-but-large from many-but-small buyers.</summary>
    public const string AvgOrderValue = "avg_order_value";
    /// <summary>Days since the first event of any kind.</summary>
    public const string TenureDays = "tenure_days";
    /// <summary>Purchases in the last 90 days: current, not lifetime, activity.</summary>
    public const string Purchases90d = "purchases_90d";
    /// <summary>Sessions in the last 30 days: engagement before it shows up as purchases.</summary>
    public const string Sessions30d = "sessions_30d";
    /// <summary>Cart abandons per cart add over 90 days, capped at 1.</summary>
    public const string CartAbandonRate90d = "cart_abandon_rate_90d";
    /// <summary>Support tickets in the last 90 days: friction.</summary>
    public const string SupportTickets90d = "support_tickets_90d";
    /// <summary>Distinct purchase categories.</summary>
    public const string CategoryCount = "category_count";
    /// <summary>Refunded amount per purchased amount.</summary>
    public const string RefundRate = "refund_rate";

    /// <summary>All names in vector order; index j of every feature vector, scaler and centroid means All[j].</summary>
    public static readonly string[] All =
    [
        RecencyDays, Frequency, Monetary, AvgOrderValue, TenureDays, Purchases90d, Sessions30d,
        CartAbandonRate90d, SupportTickets90d, CategoryCount, RefundRate,
    ];

    /// <summary>The vector dimension D.</summary>
    public static int Count => All.Length;

    /// <summary>Position of <paramref name="name"/> in the vector; throws on an unknown name so a typo cannot read the wrong slot.</summary>
    public static int IndexOf(string name)
    {
        var i = Array.IndexOf(All, name);
        return i >= 0 ? i : throw new ArgumentException($"Unknown feature '{name}'.", nameof(name));
    }
}

/// <summary>Recency (days), frequency (purchases) and monetary value (purchases − refunds).</summary>
public readonly record struct Rfm(double RecencyDays, long Frequency, double Monetary);
