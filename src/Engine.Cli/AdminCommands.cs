using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Engine.Api.V1;

namespace Engine.Cli;

/// <summary><c>engine admin backup|restore</c>: the embedded store's online backup and its offline restore (docs/operations.md).</summary>
public static class AdminCommands
{
    private static readonly string[] StoreFiles = ["orleans.db", "log.db"];

    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Directory on the server's machine to write the backup to (new or empty)", Required = true };
        var backup = new Command("backup", "Copy the running server's SQLite store into a directory on its machine, consistent for a restore") { output };
        Common.SetAction(backup, async (parse, ct) =>
        {
            var client = new AdminService.AdminServiceClient(Common.Channel(parse));
            var r = await client.BackupAsync(new BackupRequest { Directory = Path.GetFullPath(parse.GetValue(output)!) }, cancellationToken: ct);
            Output.Show(parse, r, () => Output.Pairs(
                [("directory", r.Directory), .. r.Files.Select(f => (f.Name, $"{f.Bytes:N0} bytes")),
                 ("log position", r.LogPosition.ToString("N0")), ("replays from", r.CheckpointPosition.ToString("N0")), ("taken at", Output.When(r.TakenAt))]));
            return ExitCodes.Ok;
        });

        var from = new Option<string>("--from") { Description = "A directory written by `engine admin backup`", Required = true };
        var dataDir = new Option<string>("--data-dir") { Description = "The new data directory (Engine:DataDirectory of the server to start from it)", Required = true };
        var restore = new Command("restore", "Copy a backup into a new data directory (offline: no server may hold it)") { from, dataDir };
        Common.SetAction(restore, (parse, _) =>
        {
            var (source, target) = (Path.GetFullPath(parse.GetValue(from)!), Path.GetFullPath(parse.GetValue(dataDir)!));
            var manifest = Restore(source, target);
            if (Output.Json(parse))
            {
                Common.PrintJson(new { data_directory = target, manifest.LogPosition, manifest.CheckpointPosition, manifest.Files });
            }
            else
            {
                Spectre.Console.AnsiConsole.Write(Output.Pairs(
                    [("data directory", target), .. manifest.Files.Select(f => (f.Name, $"{f.Bytes:N0} bytes")),
                     ("log position", manifest.LogPosition.ToString("N0")), ("start with", $"--Engine:DataDirectory={target}")]));
            }
            return Task.FromResult(ExitCodes.Ok);
        });
        return new Command("admin", "Operate the server: backup, restore, API keys, the audit log") { backup, restore, KeyCommands.Key(), KeyCommands.Audit() };
    }

    /// <summary>
    /// Copies the backup's files into <paramref name="target"/>. Refuses a backup without its manifest (not one, or
    /// interrupted), a file of another size than recorded, and a target that holds a store: a server's, running or not,
    /// is never overwritten.
    /// </summary>
    private static Manifest Restore(string source, string target)
    {
        var path = Path.Combine(source, "backup.json");
        if (!File.Exists(path))
        {
            throw new UsageException($"--from: {source} holds no backup.json: not a backup, or an interrupted one");
        }
        var manifest = JsonSerializer.Deserialize<Manifest>(File.ReadAllText(path))
            ?? throw new UsageException($"--from: {path} is empty");
        if (StoreFiles.SelectMany(f => new[] { f, f + "-wal" }).FirstOrDefault(f => File.Exists(Path.Combine(target, f))) is { } held)
        {
            throw new UsageException($"--data-dir: {target} already holds {held}; restore only into a new or empty directory (stop its server and move it away first)");
        }
        foreach (var file in manifest.Files)
        {
            var copy = Path.Combine(source, file.Name);
            if (!File.Exists(copy) || new FileInfo(copy).Length != file.Bytes)
            {
                throw new UsageException($"--from: {copy} is missing or not the {file.Bytes} bytes the backup recorded");
            }
        }
        Directory.CreateDirectory(target);
        foreach (var file in manifest.Files)
        {
            File.Copy(Path.Combine(source, file.Name), Path.Combine(target, file.Name));
        }
        return manifest;
    }

    /// <summary>The fields of backup.json restore needs (written by Engine.Storage's BackupManifest).</summary>
    private sealed record Manifest(
        [property: JsonPropertyName("log_position")] long LogPosition,
        [property: JsonPropertyName("checkpoint_position")] long CheckpointPosition,
        [property: JsonPropertyName("files")] ManifestFile[] Files);

    private sealed record ManifestFile([property: JsonPropertyName("name")] string Name, [property: JsonPropertyName("bytes")] long Bytes);
}
