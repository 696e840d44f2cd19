using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Engine.Core;
using Engine.Storage;

namespace Engine.Server.Alerts;

/// <summary>What became of one POST to a webhook.</summary>
public enum DeliveryResult
{
    /// <summary>2xx: the receiver took it.</summary>
    Delivered,

    /// <summary>The receiver is down or busy (5xx, 408, 429, no connection, a timeout): try again later, for as long as it takes.</summary>
    Later,

    /// <summary>The receiver refused this alert (another 4xx, or a 3xx): after the attempts, a dead letter.</summary>
    Refused,
}

/// <summary>One POST's outcome: the result, what went wrong, and how long the receiver asked us to wait (Retry-After).</summary>
public sealed record Delivery(DeliveryResult Result, string? Error = null, TimeSpan? RetryAfter = null);

/// <summary>
/// Posts one alert body to a webhook, signed with its secret twice: Standard Webhooks headers (<c>webhook-id</c>,
/// <c>webhook-timestamp</c>, <c>webhook-signature</c>; <see cref="WebhookSignature"/>), which bind the body to the
/// time it was sent, and <c>X-Engine-Signature: sha256=hex HMAC of the body</c> for receivers written before them.
/// </summary>
public sealed class WebhookSender(IHttpClientFactory http)
{
    public const string HttpClientName = "webhooks";
    public const string SignatureHeader = "X-Engine-Signature";

    public static string Sign(string secret, string body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(body)));

    public async Task<Delivery> SendAsync(WebhookRecord webhook, string cursor, string body, CancellationToken ct)
    {
        using var content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
        using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url) { Content = content };
        foreach (var (name, value) in Headers(webhook))
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        request.Headers.Add(SignatureHeader, Sign(webhook.Secret, body));
        request.Headers.Add("X-Engine-Cursor", cursor);
        // The id is the same for every try of one alert, so a receiver can drop a repeat.
        var (id, timestamp) = ($"{webhook.Id}_{cursor}", DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        request.Headers.Add("webhook-id", id);
        request.Headers.Add("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", WebhookSignature.Sign(WebhookSignature.Key(webhook.Secret) ?? [], id, timestamp, body));
        try
        {
            using var response = await http.CreateClient(HttpClientName).SendAsync(request, ct);
            var status = (int)response.StatusCode;
            return status switch
            {
                >= 200 and < 300 => new Delivery(DeliveryResult.Delivered),
                >= 500 or 408 or 429 => new Delivery(DeliveryResult.Later, $"HTTP {status}", RetryAfter(response)),
                _ => new Delivery(DeliveryResult.Refused, $"HTTP {status}"),
            };
        }
        catch (HttpRequestException e) when (e.InnerException is WebhookTargetRefusedException refused)
        {
            // The host now resolves to a refused address (a DNS rebinding, or a changed record): not sent, and not a
            // passing outage, so the alert is refused (a dead letter after the attempts) rather than paused on forever.
            return new Delivery(DeliveryResult.Refused, refused.Message);
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !ct.IsCancellationRequested))
        {
            // No connection, or the client's timeout.
            return new Delivery(DeliveryResult.Later, e.Message);
        }
    }

    /// <summary>The webhook's own headers (stored as a JSON object).</summary>
    public static Dictionary<string, string> Headers(WebhookRecord webhook) =>
        webhook.HeadersJson is { } json ? System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? [] : [];

    private static TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - DateTimeOffset.UtcNow,
        _ => null,
    };
}
