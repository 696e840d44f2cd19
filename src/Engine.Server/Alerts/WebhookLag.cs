using System.Diagnostics;
using Engine.Grains;
using Prometheus;

namespace Engine.Server.Alerts;

/// <summary>
/// One webhook's <c>engine_webhook_lag_seconds</c>: how long the oldest alert read for it has waited to be delivered,
/// computed when /metrics is scraped, so a webhook paused on a receiver that is down shows its lag growing. Exists
/// while the webhook's delivery loop runs (on the delivering silo only).
/// </summary>
public sealed class WebhookLag : IDisposable
{
    private static readonly Lock Gate = new();
    private static readonly HashSet<WebhookLag> Live = [];

    private readonly string _webhook;
    private long _since;

    static WebhookLag() => Metrics.DefaultRegistry.AddBeforeCollectCallback(UpdateAll);

    public WebhookLag(string webhook)
    {
        _webhook = webhook;
        lock (Gate)
        {
            Live.Add(this);
            EngineMetrics.WebhookLag.WithLabels(webhook).Set(0);
        }
    }

    /// <summary>The oldest undelivered alert was read at <paramref name="readAt"/> (a Stopwatch timestamp); null: none waits.</summary>
    public void Waiting(long? readAt) => Interlocked.Exchange(ref _since, readAt ?? 0);

    private static void UpdateAll()
    {
        lock (Gate)
        {
            foreach (var lag in Live)
            {
                var since = Interlocked.Read(ref lag._since);
                EngineMetrics.WebhookLag.WithLabels(lag._webhook).Set(since == 0 ? 0 : Stopwatch.GetElapsedTime(since).TotalSeconds);
            }
        }
    }

    public void Dispose()
    {
        lock (Gate)
        {
            Live.Remove(this);
            EngineMetrics.WebhookLag.RemoveLabelled(_webhook);
        }
    }
}
