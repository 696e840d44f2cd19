using System.Threading.Channels;
using Engine.Api.V1;
using Engine.Grains;
using Engine.Storage;
using Microsoft.Extensions.Options;

namespace Engine.Server.Alerts;

/// <summary>
/// Delivers alerts to webhooks: one ordered delivery loop per webhook, each alert a signed JSON POST
/// (<see cref="WebhookSender"/>). A receiver that is down or busy (5xx, 408, 429, no connection, a timeout) pauses the
/// webhook at that alert: it is tried again after a delay that doubles from Engine:WebhookRetryDelay up to
/// Engine:WebhookMaxBackoff (a 429's Retry-After is honoured), for as long as it takes, so an outage loses nothing. Only
/// an alert the receiver refuses (another 4xx) is dead-lettered, after Engine:WebhookMaxAttempts tries, and delivery
/// moves on; RedeliverDeadLetters sends those again. The position is stored after every alert, so a restart resumes
/// after the last one done. In a cluster only the <see cref="ClusterLeader"/> delivers; when leadership moves, the new
/// leader resumes from the stored position.
/// </summary>
public sealed partial class WebhookDispatcher(
    IWebhookStore log, AlertFeed feed, WebhookSender sender, AlertBodies bodies, IngestPipeline pipeline, ClusterLeader leader, IOptions<AlertOptions> options,
    ILogger<WebhookDispatcher> logger) : BackgroundService
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (Task Loop, CancellationTokenSource Stop)> _running = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await pipeline.Ready.WaitAsync(stoppingToken);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        do
        {
            try
            {
                var webhooks = leader.IsThisSilo ? (await log.ListWebhooksAsync(stoppingToken)).ToDictionary(w => w.Id) : [];
                foreach (var id in _running.Keys.Where(id => !webhooks.ContainsKey(id)).ToArray())
                {
                    await _running[id].Stop.CancelAsync();
                    _running.TryRemove(id, out _);
                }
                foreach (var w in webhooks.Values.Where(w => !_running.ContainsKey(w.Id)))
                {
                    var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    _running[w.Id] = (Task.Run(() => DeliverAsync(w, stop.Token), CancellationToken.None), stop);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogListFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await Task.WhenAll(_running.Values.Select(r => r.Loop));
    }

    private async Task DeliverAsync(WebhookRecord webhook, CancellationToken ct)
    {
        var filter = AlertFilter.Parser.ParseJson(webhook.FilterJson);
        var size = Math.Max(1, webhook.MaxBatch);
        // The feed is read ahead while a POST is out (reading an alert asks its customer for its view), so a batch
        // takes what came meanwhile. What is read ahead and not sent is read again from the stored position after a
        // restart.
        var queue = Channel.CreateBounded<ReadAlert>(new BoundedChannelOptions(Math.Max(2 * size, 16)) { SingleReader = true, SingleWriter = true });
        var lag = new WebhookLag(webhook.Id);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var pump = Task.Run(async () =>
        {
            try
            {
                await foreach (var alert in feed.ReadAsync(webhook.DeliveredAfter, filter, stop.Token))
                {
                    await queue.Writer.WriteAsync(new ReadAlert(alert, System.Diagnostics.Stopwatch.GetTimestamp()), stop.Token);
                }
                queue.Writer.TryComplete();
            }
            catch (Exception e)
            {
                queue.Writer.TryComplete(e);
            }
        }, CancellationToken.None);
        try
        {
            // A POST takes the alerts waiting, up to MaxBatch, and those that come within MaxWait of its first.
            while (await queue.Reader.WaitToReadAsync(ct))
            {
                var batch = new List<MigrationAlert>(size);
                var deadline = DateTime.UtcNow + webhook.MaxWait;
                while (batch.Count < size)
                {
                    if (queue.Reader.TryRead(out var read))
                    {
                        if (batch.Count == 0)
                        {
                            lag.Waiting(read.At);
                        }
                        batch.Add(read.Alert);
                        continue;
                    }
                    var wait = deadline - DateTime.UtcNow;
                    if (wait <= TimeSpan.Zero || !await MoreWithinAsync(queue.Reader, wait, ct))
                    {
                        break;
                    }
                }
                await SendAsync(webhook, batch, ct);
                // The next alert read (if any) has been waiting since it was read; none waiting is no lag.
                lag.Waiting(queue.Reader.TryPeek(out var next) ? next.At : null);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            // The loop restarts from the stored position at the next refresh.
            LogLoopFailed(logger, ex, webhook.Id);
            _running.TryRemove(webhook.Id, out _);
        }
        finally
        {
            lag.Dispose();
            await stop.CancelAsync();
            await pump;
        }
    }

    /// <summary>An alert and when the feed gave it (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</summary>
    private readonly record struct ReadAlert(MigrationAlert Alert, long At);

    /// <summary>Whether an alert arrives within <paramref name="wait"/>.</summary>
    private static async Task<bool> MoreWithinAsync(ChannelReader<ReadAlert> reader, TimeSpan wait, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(wait);
        try
        {
            return await reader.WaitToReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Sends one batch until its receiver takes it or refuses it <c>WebhookMaxAttempts</c> times (then each of its alerts is a dead letter).</summary>
    private async Task SendAsync(WebhookRecord webhook, List<MigrationAlert> batch, CancellationToken ct)
    {
        var o = options.Value;
        var body = bodies.Body(webhook.Format, batch, batched: webhook.MaxBatch > 1);
        var (first, last) = (batch[0].Cursor, batch[^1].Cursor);
        var label = first == last ? first : $"{first}-{last}";
        var lastCursor = long.Parse(last, System.Globalization.CultureInfo.InvariantCulture);
        var (refusals, delay) = (0, o.WebhookRetryDelay);
        while (true)
        {
            var delivery = await sender.SendAsync(webhook, label, body, ct);
            EngineMetrics.WebhookDeliveries.WithLabels(delivery.Result switch
            {
                DeliveryResult.Delivered => "delivered",
                DeliveryResult.Later => "later",
                _ => refusals + 1 >= o.WebhookMaxAttempts ? "dead_letter" : "refused",
            }).Inc();
            if (delivery.Result == DeliveryResult.Delivered)
            {
                await log.AdvanceWebhookAsync(webhook.Id, lastCursor, DateTime.UtcNow, ct);
                return;
            }
            if (delivery.Result == DeliveryResult.Refused && ++refusals >= o.WebhookMaxAttempts)
            {
                LogDeadLetter(logger, webhook.Id, label, refusals, delivery.Error!);
                foreach (var alert in batch)
                {
                    await log.AddDeadLetterAsync(new Storage.DeadLetter(webhook.Id, long.Parse(alert.Cursor, System.Globalization.CultureInfo.InvariantCulture),
                        refusals, delivery.Error!, bodies.Body(webhook.Format, [alert], batched: false), DateTime.UtcNow), ct);
                }
                await log.RecordWebhookFailureAsync(webhook.Id, delivery.Error!, null, ct);
                await log.AdvanceWebhookAsync(webhook.Id, lastCursor, null, ct);
                return;
            }
            var pause = TimeSpan.FromTicks(Math.Clamp((delivery.RetryAfter ?? delay).Ticks, 0, o.WebhookMaxBackoff.Ticks));
            if (delivery.Result == DeliveryResult.Later)
            {
                LogPaused(logger, webhook.Id, label, delivery.Error!, pause);
                await log.RecordWebhookFailureAsync(webhook.Id, delivery.Error!, DateTime.UtcNow + pause, ct);
            }
            await Task.Delay(pause, ct);
            delay = TimeSpan.FromTicks(Math.Min(o.WebhookMaxBackoff.Ticks, delay.Ticks * 2));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {WebhookId}: alert {Cursor} failed ({Error}); delivery pauses for {Pause} and tries it again")]
    private static partial void LogPaused(ILogger logger, string webhookId, string cursor, string error, TimeSpan pause);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {WebhookId}: alert {Cursor} dead-lettered after {Attempts} refusals ({Error})")]
    private static partial void LogDeadLetter(ILogger logger, string webhookId, string cursor, int attempts, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Webhook {WebhookId}: delivery loop failed; it restarts from its stored position")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception, string webhookId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listing webhooks failed")]
    private static partial void LogListFailed(ILogger logger, Exception exception);
}
