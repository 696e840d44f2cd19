using Engine.Abstractions;
using Engine.Api.V1;
using Engine.Grains;
using Engine.Storage;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.Server.Grpc;

/// <summary>AlertService: streams the durable alert log (the transition log) and manages webhooks.</summary>
public sealed class AlertGrpcService(IWebhookStore log, ITransitionLog transitions, Alerts.AlertFeed feed, Alerts.WebhookSender sender,
    Alerts.WebhookFilters filters, ModelReplica models, Microsoft.Extensions.Options.IOptions<Alerts.WebhookTargetOptions> targets)
    : AlertService.AlertServiceBase
{
    /// <summary>The response header that carries a subscription's warning.</summary>
    public const string WarningHeader = "engine-warning";

    public override async Task SubscribeMigrations(SubscribeMigrationsRequest request, IServerStreamWriter<MigrationAlert> responseStream, ServerCallContext context)
    {
        var filter = new AlertFilter { MinDwell = request.MinDwell };
        filter.FromSegmentIds.AddRange(request.FromSegmentIds);
        filter.ToSegmentIds.AddRange(request.ToSegmentIds);
        filter.Causes.AddRange(request.Causes);
        filter.Kinds.AddRange(request.Kinds);
        var cursor = request.LiveOnly ? await transitions.LastCursorAsync(context.CancellationToken) : Alerts.AlertFeed.ParseCursor(request.ResumeAfter, "resume_after");
        await models.RefreshAsync();
        if (filters.Unmatched(filter).ToList() is { Count: > 0 } unmatched)
        {
            // Not an error (a segment of that name may come back with a retrain), but worth saying before any alert.
            await context.WriteResponseHeadersAsync(new Metadata
            {
                { WarningHeader, $"no segment of the current model has the id or name {string.Join(", ", unmatched.Select(u => $"'{u}'"))}" },
            });
        }
        EngineMetrics.AlertSubscribers.Inc();
        try
        {
            await foreach (var alert in feed.ReadAsync(cursor, Alerts.AlertFeed.Validate(filter), context.CancellationToken))
            {
                await responseStream.WriteAsync(alert, context.CancellationToken);
            }
        }
        finally
        {
            EngineMetrics.AlertSubscribers.Dec();
        }
    }

    public override async Task<Webhook> CreateWebhook(CreateWebhookRequest request, ServerCallContext context)
    {
        if (!Uri.TryCreate(request.Url, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"url: must be an absolute http or https URL, got '{request.Url}'"));
        }
        await Alerts.WebhookTargets.CheckAsync(url, targets.Value.AllowPrivateTargets, context.CancellationToken);
        if (request.Secret.Length > 256)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "secret: must be at most 256 characters"));
        }
        var secret = request.Secret.Length == 0 ? Core.WebhookSignature.NewSecret() : request.Secret;
        if (Core.WebhookSignature.Key(secret) is null)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "secret: a whsec_ secret is whsec_ and base64"));
        }
        var filter = request.Filter ?? new AlertFilter();
        Alerts.AlertFeed.Validate(filter);
        var (format, maxBatch, maxWait, headers) = Delivery(request);
        var record = new WebhookRecord($"wh-{Guid.NewGuid():N}"[..15], url.ToString(), secret, JsonFormatter.Default.Format(filter),
            request.FromStart ? 0 : await transitions.LastCursorAsync(context.CancellationToken), DateTime.UtcNow,
            Format: format, HeadersJson: headers, MaxBatch: maxBatch, MaxWait: maxWait);
        await log.CreateWebhookAsync(record, context.CancellationToken);
        // The secret is shown here, once; no other answer carries it.
        var created = ToProto(record, record.DeliveredAfter);
        created.Secret = secret;
        return created;
    }

    public override async Task<ListWebhooksResponse> ListWebhooks(ListWebhooksRequest request, ServerCallContext context)
    {
        var hooks = (await log.ListWebhooksAsync(context.CancellationToken)).OrderBy(w => w.Id, StringComparer.Ordinal).ToList();
        var (page, next) = Paging.Page(hooks, request.PageSize, request.PageToken, w => w.Id, StringComparer.Ordinal);
        var head = await transitions.LastCursorAsync(context.CancellationToken);
        await models.RefreshAsync();
        var response = new ListWebhooksResponse { NextPageToken = next };
        response.Webhooks.AddRange(page.Select(w =>
        {
            var webhook = ToProto(w, head);
            webhook.UnmatchedSegments.AddRange(filters.Unmatched(webhook.Filter));
            return webhook;
        }));
        return response;
    }

    public override async Task<DeleteWebhookResponse> DeleteWebhook(DeleteWebhookRequest request, ServerCallContext context) =>
        await log.DeleteWebhookAsync(request.Id, context.CancellationToken)
            ? new DeleteWebhookResponse()
            : throw new RpcException(new Status(StatusCode.NotFound, $"id: no webhook '{request.Id}'"));

    public override async Task<ListDeadLettersResponse> ListDeadLetters(ListDeadLettersRequest request, ServerCallContext context)
    {
        var letters = (await log.ListDeadLettersAsync(request.WebhookId.Length == 0 ? null : request.WebhookId, context.CancellationToken))
            .OrderBy(Key, StringComparer.Ordinal).ToList();
        var (page, next) = Paging.Page(letters, request.PageSize, request.PageToken, Key, StringComparer.Ordinal);
        var response = new ListDeadLettersResponse { NextPageToken = next };
        response.DeadLetters.AddRange(page.Select(d => new Api.V1.DeadLetter
        {
            WebhookId = d.WebhookId,
            Cursor = d.Cursor.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Attempts = d.Attempts,
            LastError = d.LastError,
            Body = d.Body,
            FailedAt = Mapping.ToTimestamp(d.FailedAt),
        }));
        return response;

        // By webhook, then cursor (zero-padded, so the ordinal order is the numeric one).
        static string Key(Engine.Storage.DeadLetter d) => $"{d.WebhookId}\u0000{d.Cursor:D20}";
    }

    /// <summary>How a new webhook delivers: its format, batch, wait and headers, checked.</summary>
    private static (string Format, int MaxBatch, TimeSpan MaxWait, string? HeadersJson) Delivery(CreateWebhookRequest request)
    {
        var format = request.Format.Length == 0 ? Alerts.AlertBodies.Engine : request.Format;
        if (!Alerts.AlertBodies.Formats.Contains(format))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"format: must be one of {string.Join(", ", Alerts.AlertBodies.Formats)}, got '{request.Format}'"));
        }
        var most = format == Alerts.AlertBodies.Braze ? Alerts.AlertBodies.BrazeMaxBatch : 1000;
        var maxBatch = request.MaxBatch == 0 ? (format == Alerts.AlertBodies.Braze ? most : 1) : request.MaxBatch;
        if (maxBatch < 1 || maxBatch > most)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"max_batch: must be 1 to {most} for {format}, got {request.MaxBatch}"));
        }
        var maxWait = request.MaxWait?.ToTimeSpan() ?? TimeSpan.Zero;
        if (maxWait < TimeSpan.Zero || maxWait > TimeSpan.FromSeconds(60))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"max_wait: must be 0 to 60 s, got {maxWait}"));
        }
        string[] reserved = ["content-type", "content-length", "host", "webhook-id", "webhook-timestamp", "webhook-signature", "x-engine-signature", "x-engine-cursor"];
        foreach (var (name, value) in request.Headers)
        {
            if (name.Length == 0 || name.Any(c => c <= ' ' || c >= 127 || c == ':') || reserved.Contains(name.ToLowerInvariant()))
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"headers: '{name}' is not a header name a webhook may set"));
            }
            if (value.Any(c => c is '\r' or '\n'))
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"headers: the value of '{name}' has a line break"));
            }
        }
        if (request.Headers.Count > 20)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"headers: at most 20, got {request.Headers.Count}"));
        }
        var headers = request.Headers.Count == 0 ? null : System.Text.Json.JsonSerializer.Serialize(request.Headers.ToDictionary(h => h.Key, h => h.Value));
        return (format, maxBatch, maxWait, headers);
    }

    public override async Task<RedeliverDeadLettersResponse> RedeliverDeadLetters(RedeliverDeadLettersRequest request, ServerCallContext context)
    {
        var webhook = (await log.ListWebhooksAsync(context.CancellationToken)).FirstOrDefault(w => w.Id == request.WebhookId)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"webhook_id: no webhook '{request.WebhookId}'"));
        var wanted = request.Cursors.Select((c, i) => Alerts.AlertFeed.ParseCursor(c, $"cursors[{i}]")).ToHashSet();
        var letters = (await log.ListDeadLettersAsync(webhook.Id, context.CancellationToken))
            .Where(d => wanted.Count == 0 || wanted.Contains(d.Cursor)).OrderBy(d => d.Cursor).ToList();
        var (taken, response) = (new List<long>(), new RedeliverDeadLettersResponse());
        foreach (var letter in letters)
        {
            var cursor = letter.Cursor.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var delivery = await sender.SendAsync(webhook, cursor, letter.Body, context.CancellationToken);
            if (delivery.Result == Alerts.DeliveryResult.Delivered)
            {
                taken.Add(letter.Cursor);
            }
            else
            {
                (response.Failed, response.LastError) = (response.Failed + 1, delivery.Error ?? "");
            }
        }
        await log.RemoveDeadLettersAsync(webhook.Id, taken, context.CancellationToken);
        response.Redelivered = taken.Count;
        return response;
    }

    private static Webhook ToProto(WebhookRecord w, long head)
    {
        var paused = w.PausedUntil is { } until && until > DateTime.UtcNow;
        var webhook = new Webhook
        {
            Id = w.Id,
            Url = w.Url,
            Filter = AlertFilter.Parser.ParseJson(w.FilterJson),
            DeliveredAfter = w.DeliveredAfter.ToString(System.Globalization.CultureInfo.InvariantCulture),
            CreatedAt = Mapping.ToTimestamp(w.CreatedAt),
            State = paused ? "paused" : "active",
            Format = w.Format,
            MaxBatch = w.MaxBatch,
            MaxWait = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(w.MaxWait),
            LastError = w.LastError ?? "",
            Lag = Math.Max(0, head - w.DeliveredAfter),
        };
        if (paused)
        {
            webhook.PausedUntil = Mapping.ToTimestamp(w.PausedUntil!.Value);
        }
        if (w.LastSuccessAt is { } success)
        {
            webhook.LastSuccessAt = Mapping.ToTimestamp(success);
        }
        webhook.HeaderNames.AddRange(Alerts.WebhookSender.Headers(w).Keys.Order(StringComparer.Ordinal));
        return webhook;
    }
}
