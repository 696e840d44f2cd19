using Engine.Api.V1;
using Engine.Grains;
using Engine.Server.Security;
using Engine.Storage;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Engine.Server.Grpc;

/// <summary>AdminService: what the server is, and the quarantine of events customers could not apply.</summary>
public sealed partial class AdminGrpcService(IQuarantineStore quarantine, CustomerGrains customers, OutcomePublisher publisher, EngineClock clock,
    IIngestLog log, ModelReplica models, IGrainFactory grains, IOptions<EngineOptions> options, IEngineDatabase database, IAuditLog audit,
    ILogger<AdminGrpcService> logger, ICustomerErasure erasure, ErasureAudit erasureAudit, ShardRouter router)
    : AdminService.AdminServiceBase
{
    public override async Task<ServerInfo> GetServerInfo(GetServerInfoRequest request, ServerCallContext context)
    {
        await models.RefreshAsync();
        var hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        var info = new ServerInfo
        {
            Version = EngineMetrics.Version,
            Clock = ConfigWords.Of(options.Value.Clock),
            Storage = ConfigWords.Of(options.Value.Storage),
            ModelVersion = models.Current?.Version ?? 0,
            LogHead = await log.GetHeadSeqAsync(context.CancellationToken),
            Now = Timestamp.FromDateTime(DateTime.SpecifyKind(clock.Now, DateTimeKind.Utc)),
            Shards = options.Value.Shards,
        };
        info.Silos.AddRange(hosts.Keys.Select(s => s.Endpoint.ToString()).Order(StringComparer.Ordinal));
        return info;
    }

    public override async Task<ListQuarantinedEventsResponse> ListQuarantinedEvents(ListQuarantinedEventsRequest request, ServerCallContext context)
    {
        var size = Paging.Size(request.PageSize);
        var after = 0L;
        if (request.PageToken.Length > 0 && !long.TryParse(request.PageToken, out after))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "page_token: not a token this service gave out"));
        }
        // One more than the page, to know whether another page follows.
        var records = await quarantine.ListAsync(request.IncludeDiscarded, after, size + 1, context.CancellationToken);
        var response = new ListQuarantinedEventsResponse();
        response.Events.AddRange(records.Take(size).Select(ToProto));
        if (records.Length > size)
        {
            response.NextPageToken = records[size - 1].Event.LogPosition.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        await RefreshPendingAsync();
        return response;
    }

    public override async Task<ReplayQuarantinedEventResponse> ReplayQuarantinedEvent(ReplayQuarantinedEventRequest request, ServerCallContext context)
    {
        var record = await FindAsync(request.LogPosition, context.CancellationToken);
        if (record.DiscardedAt is not null)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"log_position: event {request.LogPosition} was discarded; it is never applied"));
        }
        var customer = customers.Get(record.Event.CustomerId);
        Engine.Abstractions.ApplyResult? result;
        try
        {
            result = await customer.ReplayQuarantinedAsync(record.Event);
        }
        catch (Exception ex) when (ex is not OrleansException)
        {
            await quarantine.SetErrorAsync(record.Event.LogPosition, ex.Message);
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"log_position: event {request.LogPosition} still cannot be applied and stays quarantined: {ex.Message}"));
        }
        // Published before the record goes: a crash in between leaves a record whose replay is then a no-op.
        if (result is not null)
        {
            await publisher.PublishAsync([result]);
        }
        await quarantine.RemoveAsync(record.Event.LogPosition);
        LogReplayed(logger, record.Event.LogPosition, record.Event.CustomerId, result is not null);
        await RefreshPendingAsync();
        var view = await customer.GetAsync();
        return new ReplayQuarantinedEventResponse { Customer = view?.ToProto() };
    }

    public override async Task<QuarantinedEvent> DiscardQuarantinedEvent(DiscardQuarantinedEventRequest request, ServerCallContext context)
    {
        await FindAsync(request.LogPosition, context.CancellationToken);
        await quarantine.DiscardAsync(request.LogPosition, clock.WallNow);
        LogDiscarded(logger, request.LogPosition);
        await RefreshPendingAsync();
        return ToProto((await quarantine.GetAsync(request.LogPosition))!);
    }

    /// <summary>
    /// Erasure (docs/operations.md, "Erasure"): the grain, wherever it lives, drops its state; the store deletes the
    /// customer's rows; the owning shard drops its row and checkpoints; the grain is cleared once more, for a batch that
    /// was applied while the rows were deleted; then the store is scrubbed. Events acknowledged after this returns
    /// start a new customer; events in flight while it runs may be erased or may start the new customer.
    /// </summary>
    public override async Task<EraseCustomerResponse> EraseCustomer(EraseCustomerRequest request, ServerCallContext context)
    {
        var id = request.CustomerId;
        if (id.Length is 0 or > EventValidator.MaxIdLength)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"customer_id: must be 1-{EventValidator.MaxIdLength} characters, got {id.Length}"));
        }
        var grain = customers.Get(id);
        await grain.EraseAsync();
        var rows = await erasure.EraseCustomerAsync(id, context.CancellationToken);
        await grains.GetGrain<Abstractions.IShardGrain>(router.ShardOf(id)).RemoveAsync(id);
        await grain.EraseAsync();
        await erasure.ScrubAsync(CancellationToken.None);
        // The audit entry of this call (AuthInterceptor writes it) names the customer only by its salted hash.
        context.SetAuditTarget("customer:" + await erasureAudit.RecordAsync(id, rows, CancellationToken.None));
        return new EraseCustomerResponse
        {
            EventsErased = rows.Events,
            TransitionsErased = rows.Transitions,
            DeadLettersErased = rows.DeadLetters,
            QuarantinedErased = rows.Quarantined,
        };
    }

    public override async Task<BackupResponse> Backup(BackupRequest request, ServerCallContext context)
    {
        if (database is not SqliteDatabase sqlite)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                "storage: Backup copies the embedded SQLite store; on PostgreSQL back up with pg_dump (docs/operations.md, \"Backup and restore\")"));
        }
        if (string.IsNullOrWhiteSpace(request.Directory))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "directory: required, a directory on the server's machine"));
        }
        var directory = Path.GetFullPath(request.Directory);
        if (directory == sqlite.DataDirectory)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "directory: that is the server's own data directory"));
        }
        BackupManifest manifest;
        try
        {
            manifest = await Task.Run(() => SqliteBackup.Take(sqlite, directory, IngestPipeline.CheckpointKey,
                [IngestPipeline.AppliedPrefix, IngestPipeline.AppliedAtPrefix]), context.CancellationToken);
        }
        catch (InvalidOperationException ex)
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, "directory: " + ex.Message));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"directory: cannot write {directory}: {ex.Message}"));
        }
        LogBackedUp(logger, directory, manifest.LogPosition, manifest.CheckpointPosition);
        var response = new BackupResponse
        {
            Directory = directory,
            LogPosition = manifest.LogPosition,
            CheckpointPosition = manifest.CheckpointPosition,
            TakenAt = Mapping.ToTimestamp(manifest.TakenAt),
        };
        response.Files.AddRange(manifest.Files.Select(f => new BackupFile { Name = f.Name, Bytes = f.Bytes }));
        return response;
    }

    /// <summary>The audit log, newest first; the page token is the last entry's id (docs/security.md).</summary>
    public override async Task<ListAuditEntriesResponse> ListAuditEntries(ListAuditEntriesRequest request, ServerCallContext context)
    {
        var size = Paging.Size(request.PageSize);
        var before = request.PageToken.Length > 0 ? Paging.NumberAfter(request.PageToken) : 0L;
        // One more than the page, to know whether another page follows.
        var entries = await audit.ListAsync(before, size + 1, context.CancellationToken);
        var response = new ListAuditEntriesResponse();
        response.Entries.AddRange(entries.Take(size).Select(e => new Engine.Api.V1.AuditEntry
        {
            Id = e.Id,
            At = Mapping.ToTimestamp(e.At),
            Who = e.Who,
            Action = e.Action,
            Target = e.Target,
            Outcome = e.Outcome,
            Details = e.Details,
        }));
        if (entries.Length > size)
        {
            response.NextPageToken = PageTokens.Encode(entries[size - 1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        return response;
    }

    /// <summary>Sets <c>engine_quarantine_pending</c> from the store, after a call that read or changed the quarantine.</summary>
    private async Task RefreshPendingAsync() => EngineMetrics.QuarantinePending.Set(await quarantine.CountPendingAsync());

    private async Task<QuarantineRecord> FindAsync(long seq, CancellationToken ct) =>
        await quarantine.GetAsync(seq, ct)
        ?? throw new RpcException(new Status(StatusCode.NotFound, $"log_position: no quarantined event at {seq}"));

    private static QuarantinedEvent ToProto(QuarantineRecord q)
    {
        var proto = new QuarantinedEvent
        {
            LogPosition = q.Event.LogPosition,
            Event = new Event
            {
                EventId = q.Event.EventId,
                CustomerId = q.Event.CustomerId,
                Type = (EventType)q.Event.Kind,
                OccurredAt = Mapping.ToTimestamp(q.Event.OccurredAt),
                Amount = q.Event.Amount,
                Category = q.Event.Category ?? "",
            },
            Error = q.Error,
            QuarantinedAt = Mapping.ToTimestamp(q.QuarantinedAt),
        };
        if (q.DiscardedAt is { } discarded)
        {
            proto.DiscardedAt = Mapping.ToTimestamp(discarded);
        }
        return proto;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Quarantined event {LogPosition} of customer {CustomerId} replayed (applied now: {Applied})")]
    private static partial void LogReplayed(ILogger logger, long logPosition, string customerId, bool applied);

    [LoggerMessage(Level = LogLevel.Information, Message = "Backup written to {Directory}: log up to position {LogPosition}, recovery from {CheckpointPosition}")]
    private static partial void LogBackedUp(ILogger logger, string directory, long logPosition, long checkpointPosition);

    [LoggerMessage(Level = LogLevel.Information, Message = "Quarantined event {LogPosition} discarded")]
    private static partial void LogDiscarded(ILogger logger, long logPosition);
}
