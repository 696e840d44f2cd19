using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Engine.Storage;

/// <summary>
/// Grain-state writes in batches: the writes that queue up while one batch is in flight go together in one
/// transaction (and, to a server, one round trip). A retrain seals about one checkpoint per customer it moves, and
/// ingest checkpoints each customer every Engine:CheckpointEvery changes, in waves when the load is even; Orleans'
/// provider sends each write as its own statement and commit (<see cref="PostgresBatchedWrites"/> and
/// <see cref="SqliteBatchedWrites"/> say what that cost each database).
/// <para>
/// The contract is the provider's: the same WriteToStorageKey query from OrleansQuery, the same row key and hashes
/// (<see cref="RowKey"/>) and the same version check, so either side reads what the other wrote. Clears (and, unless a
/// store says otherwise, reads) go to the provider unchanged. A batch is one transaction: if it fails, none of its writes is applied; if the database
/// refused it (one bad or deadlocked statement), each write is tried again alone, so only the bad one fails.
/// </para>
/// </summary>
public abstract partial class BatchedWritesStorage : IGrainStorage
{
    private readonly IGrainStorage _inner;
    private readonly IGrainStorageSerializer _serializer;
    private readonly string _serviceId;
    private readonly ILogger _logger;
    private readonly int _maxBatch;
    private readonly Channel<PendingWrite> _queue = Channel.CreateUnbounded<PendingWrite>();

    /// <param name="writers">Batches in flight at once.</param>
    /// <param name="maxBatch">Writes per batch: enough to amortise the commit, small enough to stay a few ms.</param>
    protected BatchedWritesStorage(IGrainStorage inner, IGrainStorageSerializer serializer, string serviceId, ILogger logger, int writers, int maxBatch)
    {
        (_inner, _serializer, _serviceId, _logger, _maxBatch) = (inner, serializer, serviceId, logger, maxBatch);
        for (var i = 0; i < writers; i++)
        {
            _ = Task.Run(WriteLoopAsync);
        }
    }

    protected string ServiceId => _serviceId;

    protected IGrainStorageSerializer Serializer => _serializer;

    public virtual Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        _inner.ReadStateAsync(stateName, grainId, grainState);

    public virtual Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        _inner.ClearStateAsync(stateName, grainId, grainState);

    /// <summary>Writes a batch in one transaction: the new version of each row, or null where the version check failed.</summary>
    protected abstract Task<int?[]> WriteAsync(IReadOnlyList<PendingWrite> batch);

    /// <summary>Whether the database refused the whole batch (rolled it back), so that each write can go again alone.</summary>
    protected abstract bool RefusedBatch(Exception error);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (stateName.Contains('`'))
        {
            // A generic state type's name, which the provider rewrites first; none of Engine's grains has one.
            await _inner.WriteStateAsync(stateName, grainId, grainState);
            return;
        }
        int? version = string.IsNullOrWhiteSpace(grainState.ETag) ? null : int.Parse(grainState.ETag, CultureInfo.InvariantCulture);
        var write = new PendingWrite(RowKey.Of(stateName, grainId), version, _serializer.Serialize(grainState.State).ToArray());
        _queue.Writer.TryWrite(write);
        var stored = await write.Done.Task;
        if (stored is not { } newVersion || newVersion == version)
        {
            // The provider's check: no row written means another writer's version is in storage.
            throw new InconsistentStateException(
                $"Version conflict (WriteState): ServiceId={_serviceId} GrainType={stateName} GrainId={grainId} ETag={grainState.ETag}.");
        }
        grainState.ETag = newVersion.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<PendingWrite>(_maxBatch);
        while (await _queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < _maxBatch && _queue.Reader.TryRead(out var write))
            {
                batch.Add(write);
            }
            if (batch.Count == 0)
            {
                continue;
            }
            try
            {
                await WriteAndAnswerAsync(batch);
            }
            catch (Exception e) when (batch.Count > 1 && RefusedBatch(e))
            {
                // The database rolled the whole batch back: no write in it was applied, so each can go again on its own.
                LogBatchRefused(e, batch.Count);
                foreach (var write in batch)
                {
                    await WriteAloneAsync(write);
                }
            }
            catch (Exception e)
            {
                LogBatchFailed(e, batch.Count);
                foreach (var write in batch)
                {
                    write.Done.TrySetException(e);
                }
            }
        }
    }

    private async Task WriteAndAnswerAsync(IReadOnlyList<PendingWrite> batch)
    {
        var versions = await WriteAsync(batch);
        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Done.TrySetResult(versions[i]);
        }
    }

    private async Task WriteAloneAsync(PendingWrite write)
    {
        try
        {
            await WriteAndAnswerAsync([write]);
        }
        catch (Exception e)
        {
            write.Done.TrySetException(e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The database refused a batch of {Count} grain-state writes; writing each alone")]
    private partial void LogBatchRefused(Exception error, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "A batch of {Count} grain-state writes failed; each of those writes fails")]
    private partial void LogBatchFailed(Exception error, int count);

    protected sealed record PendingWrite(RowKey Key, int? Version, byte[] Payload)
    {
        public TaskCompletionSource<int?> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// A grain's row in OrleansStorage as Orleans' ADO.NET provider keys it (AdoGrainKey, OrleansDefaultHasher): a
    /// Guid or integer key goes in N0/N1 with its extension, any other key is the extension string; the id hash is
    /// the stable hash of the key's bytes reversed, the type hash that of the state name's UTF-8.
    /// </summary>
    public sealed record RowKey(int IdHash, long N0, long N1, int TypeHash, string Type, string? Extension)
    {
        public static RowKey Of(string stateName, GrainId grainId)
        {
            long n0 = 0, n1 = 0;
            string? extension;
            byte[] bytes;
            if (grainId.TryGetGuidKey(out var guid, out extension))
            {
                bytes = guid.ToByteArray();
                (n0, n1) = (BitConverter.ToInt64(bytes, 0), BitConverter.ToInt64(bytes, 8));
            }
            else if (grainId.TryGetIntegerKey(out var integer, out extension))
            {
                n1 = integer;
                bytes = BitConverter.GetBytes(integer);
            }
            else
            {
                extension = grainId.Key.ToString();
                bytes = [];
            }
            bytes = extension is null ? bytes : [.. bytes, .. Encoding.UTF8.GetBytes(extension)];
            if (BitConverter.IsLittleEndian)
            {
                Array.Reverse(bytes);
            }
            var typeHash = (int)StableHash.ComputeHash(Encoding.UTF8.GetBytes(stateName));
            return new RowKey((int)StableHash.ComputeHash(bytes), n0, n1, typeHash, stateName, extension);
        }
    }
}
