using Npgsql;
using NpgsqlTypes;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Engine.Storage;

/// <summary>
/// <see cref="BatchedWritesStorage"/> for PostgreSQL: a batch is one NpgsqlBatch, one round trip and one implicit
/// transaction. PostgreSQL takes the provider's upsert several times faster pipelined to a commit than parsed one by
/// one, and ingest ran at half its rate while a retrain's seals went one by one (deploy/bench/HISTORY.md, "Behind the code").
/// </summary>
public sealed class PostgresBatchedWrites(IGrainStorage inner, string connectionString, IGrainStorageSerializer serializer, string serviceId,
    ILogger<PostgresBatchedWrites> logger) : BatchedWritesStorage(inner, serializer, serviceId, logger, Writers, MaxBatch)
{
    /// <summary>Writes per round trip.</summary>
    public const int MaxBatch = 128;

    /// <summary>Batches in flight at once; their connections come from the provider's pool, so the silo's total holds.</summary>
    private const int Writers = 4;

    // Read on first use and kept once read: a failed read (the database not reachable yet) is tried again next batch.
    private string? _query;

    protected override bool RefusedBatch(Exception error) => error is PostgresException;

    /// <summary>One round trip, one implicit transaction.</summary>
    protected override async Task<int?[]> WriteAsync(IReadOnlyList<PendingWrite> batch)
    {
        var query = _query ??= await ReadQueryAsync();
        // Rows in one order, so two batches that share rows (two activations of a grain during a membership change)
        // lock them in the same order rather than deadlock.
        var ordered = batch.Select((write, index) => (write, index))
            .OrderBy(w => w.write.Key.IdHash).ThenBy(w => w.write.Key.TypeHash).ThenBy(w => w.write.Key.N0).ThenBy(w => w.write.Key.N1)
            .ThenBy(w => w.write.Key.Type, StringComparer.Ordinal).ThenBy(w => w.write.Key.Extension, StringComparer.Ordinal).ToArray();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlBatch(connection);
        foreach (var (write, _) in ordered)
        {
            var row = new NpgsqlBatchCommand(query);
            var p = row.Parameters;
            p.Add(new NpgsqlParameter("GrainIdHash", NpgsqlDbType.Integer) { Value = write.Key.IdHash });
            p.Add(new NpgsqlParameter("GrainIdN0", NpgsqlDbType.Bigint) { Value = write.Key.N0 });
            p.Add(new NpgsqlParameter("GrainIdN1", NpgsqlDbType.Bigint) { Value = write.Key.N1 });
            p.Add(new NpgsqlParameter("GrainTypeHash", NpgsqlDbType.Integer) { Value = write.Key.TypeHash });
            p.Add(new NpgsqlParameter("GrainTypeString", NpgsqlDbType.Varchar) { Value = write.Key.Type });
            p.Add(new NpgsqlParameter("GrainIdExtensionString", NpgsqlDbType.Varchar) { Value = (object?)write.Key.Extension ?? DBNull.Value });
            p.Add(new NpgsqlParameter("ServiceId", NpgsqlDbType.Varchar) { Value = ServiceId });
            p.Add(new NpgsqlParameter("GrainStateVersion", NpgsqlDbType.Integer) { Value = (object?)write.Version ?? DBNull.Value });
            p.Add(new NpgsqlParameter("PayloadBinary", NpgsqlDbType.Bytea) { Value = write.Payload });
            command.BatchCommands.Add(row);
        }
        var versions = new int?[batch.Count];
        await using (var reader = await command.ExecuteReaderAsync())
        {
            foreach (var (_, index) in ordered)
            {
                versions[index] = await reader.ReadAsync() && !reader.IsDBNull(0) ? reader.GetInt32(0) : null;
                await reader.NextResultAsync();
            }
        }
        // The reader is closed: the batch's implicit transaction has committed.
        return versions;
    }

    private async Task<string> ReadQueryAsync()
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT QueryText FROM OrleansQuery WHERE QueryKey = 'WriteToStorageKey'", connection);
        return (string?)await command.ExecuteScalarAsync()
            ?? throw new InvalidOperationException("OrleansQuery has no WriteToStorageKey: the persistence script has not been applied.");
    }
}
