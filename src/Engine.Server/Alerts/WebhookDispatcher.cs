using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Engine.Api.V1;
using Engine.Grains;
using Engine.Storage;
using Google.Protobuf;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace Engine.Server.Alerts;

/// <summary>
/// Delivers alerts to webhooks: one ordered delivery loop per webhook, each alert a JSON POST signed with
/// HMAC-SHA256 of the body (X-Engine-Signature: sha256=hex), retried with exponential backoff; after
/// Engine:WebhookMaxAttempts failures it is parked in the dead-letter list and delivery moves on. The position is
/// stored after every alert, so a restart resumes after the last delivered one. In a cluster only the
/// <see cref="ClusterLeader"/> delivers; when leadership moves, the new leader resumes from the stored position.
/// </summary>
public sealed partial class WebhookDispatcher(
    IWebhookStore log, AlertFeed feed, IHttpClientFactory http, IngestPipeline pipeline, ClusterLeader leader, IOptions<AlertOptions> options,
    ILogger<WebhookDispatcher> logger) : BackgroundService
{
    public const string HttpClientName = "webhooks";
    public const string SignatureHeader = "X-Engine-Signature";
    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithPreserveProtoFieldNames(true));
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
        var client = http.CreateClient(HttpClientName);
        var retry = new ResiliencePipelineBuilder().AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = Math.Max(0, options.Value.WebhookMaxAttempts - 1),
            BackoffType = DelayBackoffType.Exponential,
            Delay = options.Value.WebhookRetryDelay,
            MaxDelay = TimeSpan.FromMinutes(1),
            UseJitter = false,
            ShouldHandle = new PredicateBuilder().Handle<HttpRequestException>().Handle<TaskCanceledException>(_ => !ct.IsCancellationRequested),
        }).Build();
        try
        {
            await foreach (var alert in feed.ReadAsync(webhook.DeliveredAfter, filter, ct))
            {
                var body = Json.Format(alert);
                var signature = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(webhook.Secret), Encoding.UTF8.GetBytes(body)));
                var attempts = 0;
                try
                {
                    await retry.ExecuteAsync(async token =>
                    {
                        attempts++;
                        using var content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
                        using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url) { Content = content };
                        request.Headers.Add(SignatureHeader, signature);
                        request.Headers.Add("X-Engine-Cursor", alert.Cursor);
                        using var response = await client.SendAsync(request, token);
                        response.EnsureSuccessStatusCode();
                    }, ct);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
                {
                    LogDeadLetter(logger, ex, webhook.Id, alert.Cursor, attempts);
                    await log.AddDeadLetterAsync(new Storage.DeadLetter(webhook.Id, long.Parse(alert.Cursor, System.Globalization.CultureInfo.InvariantCulture), attempts, ex.Message, body, DateTime.UtcNow), ct);
                }
                await log.AdvanceWebhookAsync(webhook.Id, long.Parse(alert.Cursor, System.Globalization.CultureInfo.InvariantCulture), ct);
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
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {WebhookId}: alert {Cursor} dead-lettered after {Attempts} attempts")]
    private static partial void LogDeadLetter(ILogger logger, Exception exception, string webhookId, string cursor, int attempts);

    [LoggerMessage(Level = LogLevel.Error, Message = "Webhook {WebhookId}: delivery loop failed; it restarts from its stored position")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception, string webhookId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listing webhooks failed")]
    private static partial void LogListFailed(ILogger logger, Exception exception);
}
