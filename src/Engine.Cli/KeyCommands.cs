using Spectre.Console;
using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Engine.Api.V1;

namespace Engine.Cli;

/// <summary><c>engine admin key create</c> and <c>engine admin audit</c>: API keys and the audit log (docs/security.md).</summary>
public static class KeyCommands
{
    private static readonly string[] RoleNames = ["ingest", "read", "admin"];

    public static Command Key()
    {
        var roles = new Option<string>("--roles") { Description = "Comma-separated: ingest, read, admin", Required = true };
        var name = new Option<string?>("--name") { Description = "Who acts with the key, as the audit log names it (default: the roles)" };
        var index = new Option<int>("--index") { Description = "N of Engine:Auth:Keys:N in the printed lines (the key's place among the server's keys)" };
        var create = new Command("create", "Make a new random API key: prints the key once, and the server's configuration lines with its SHA-256")
        {
            roles, name, index,
        };
        Common.SetAction(create, (parse, _) =>
        {
            var words = parse.GetValue(roles)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(r => r.ToLowerInvariant()).Distinct().ToArray();
            if (words.Length == 0 || words.FirstOrDefault(w => !RoleNames.Contains(w)) is { } bad)
            {
                throw new UsageException($"--roles: '{parse.GetValue(roles)}' must be a comma-separated list of ingest, read, admin");
            }
            var n = parse.GetValue(index);
            if (n < 0)
            {
                throw new UsageException("--index: must be 0 or more");
            }
            var keyName = parse.GetValue(name) is { Length: > 0 } given ? given.Trim() : string.Join('-', words);
            // 32 random bytes as base64url: 256 bits, safe in a header, an environment variable and a shell.
            var key = "ek_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            var sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
            var joined = string.Join(',', words);
            string[] environment =
            [
                $"Engine__Auth__Keys__{n}__Name={keyName}",
                $"Engine__Auth__Keys__{n}__Sha256={sha256}",
                $"Engine__Auth__Keys__{n}__Roles={joined}",
            ];
            var settings = new { Engine = new { Auth = new { Keys = new[] { new { Name = keyName, Sha256 = sha256, Roles = joined } } } } };
            if (Output.Json(parse))
            {
                Common.PrintJson(new { name = keyName, key, sha256, roles = joined, environment, appsettings = settings });
            }
            else
            {
                Console.WriteLine($"API key (shown once; the server keeps only its hash; clients send it as ENGINE_API_KEY or `authorization: Bearer`):");
                Console.WriteLine();
                Console.WriteLine($"  {key}");
                Console.WriteLine();
                Console.WriteLine("Server configuration, as environment variables:");
                Console.WriteLine();
                foreach (var line in environment)
                {
                    Console.WriteLine($"  {line}");
                }
                Console.WriteLine();
                Console.WriteLine($"or in appsettings.json (as key {n} of Engine:Auth:Keys):");
                Console.WriteLine();
                Console.WriteLine(JsonSerializer.Serialize(settings, Common.Indented));
            }
            return Task.FromResult(ExitCodes.Ok);
        });
        return new Command("key", "API keys: create") { create };
    }

    public static Command Audit()
    {
        var limit = new Option<int>("--limit") { Description = "Entries to show, newest first", DefaultValueFactory = _ => 50 };
        var audit = new Command("audit", "The audit log, newest first: who did which admin action, when, on what, and how it ended") { limit };
        Common.SetAction(audit, async (parse, ct) =>
        {
            var client = new AdminService.AdminServiceClient(Common.Channel(parse));
            var wanted = parse.GetValue(limit);
            var entries = new List<AuditEntry>();
            var token = "";
            do
            {
                var page = await client.ListAuditEntriesAsync(new ListAuditEntriesRequest { PageSize = Math.Clamp(wanted - entries.Count, 1, 1000), PageToken = token },
                    cancellationToken: ct);
                entries.AddRange(page.Entries);
                token = page.NextPageToken;
            }
            while (token.Length > 0 && entries.Count < wanted);
            if (Output.Json(parse))
            {
                foreach (var e in entries)
                {
                    Output.Line(e);
                }
            }
            else
            {
                var table = new Table().Border(TableBorder.Rounded)
                    .AddColumns("at", "who", "action", "target", "outcome");
                foreach (var e in entries)
                {
                    table.AddRow(Spectre.Console.Markup.Escape(Output.When(e.At)), Spectre.Console.Markup.Escape(e.Who), e.Action,
                        Spectre.Console.Markup.Escape(e.Target), e.Outcome);
                }
                Spectre.Console.AnsiConsole.Write(table);
            }
            return ExitCodes.Ok;
        });
        return audit;
    }
}
