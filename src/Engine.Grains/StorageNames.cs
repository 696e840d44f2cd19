namespace Engine.Grains;

/// <summary>Names of the grain storage providers, in one place.</summary>
public static class StorageNames
{
    /// <summary>Orleans ADO.NET grain storage holding customer checkpoints, shard matrices and models.</summary>
    public const string Engine = "engine";

    /// <summary>The ADO.NET provider behind <see cref="Engine"/> on SQLite (grains reach it through the batched writer, SqliteBatchedWrites).</summary>
    public const string EngineSqlite = Engine + "-sqlite";

    /// <summary>The ADO.NET provider behind <see cref="Engine"/> on PostgreSQL (grains reach it through batched writes).</summary>
    public const string EnginePostgres = Engine + "-postgres";
}
