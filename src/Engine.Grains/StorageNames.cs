namespace Engine.Grains;

/// <summary>Names of the grain storage providers, in one place.</summary>
public static class StorageNames
{
    /// <summary>Orleans ADO.NET grain storage holding customer checkpoints, shard matrices and models.</summary>
    public const string Engine = "engine";
}
