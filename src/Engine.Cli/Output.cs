using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Spectre.Console;

namespace Engine.Cli;

/// <summary>
/// What a command prints: tables for a person at a terminal, JSON (the API's proto3 JSON) when stdout is piped or
/// with <c>--output json</c>. Errors never go to stdout (see <see cref="Failures"/>).
/// </summary>
public static class Output
{
    public static readonly Option<string?> Format = new("--output")
    {
        Description = "table or json (default: table on a terminal, json when piped)",
        Recursive = true,
    };

    static Output() => Format.AcceptOnlyFromAmong("table", "json");

    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    public static bool Json(ParseResult parse) =>
        parse.GetValue(Format) is { } f ? f == "json" : Console.IsOutputRedirected;

    /// <summary>A message as JSON on its own line (JSON lines when a command prints several).</summary>
    public static void Line(IMessage message) => Console.WriteLine(Formatter.Format(message));

    /// <summary>A message as indented JSON.</summary>
    public static void Document(IMessage message) =>
        Console.WriteLine(JsonSerializer.Serialize(JsonDocument.Parse(Formatter.Format(message)).RootElement, Common.Indented));

    /// <summary>Prints <paramref name="message"/> as JSON, or as the table <paramref name="table"/> draws.</summary>
    public static void Show(ParseResult parse, IMessage message, Func<Spectre.Console.Rendering.IRenderable> table)
    {
        if (Json(parse))
        {
            Document(message);
        }
        else
        {
            AnsiConsole.Write(table());
        }
    }

    /// <summary>Two columns, a row per (name, value).</summary>
    public static Table Pairs(params (string Name, string Value)[] rows)
    {
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().AddColumn("").AddColumn("");
        foreach (var (name, value) in rows)
        {
            table.AddRow(new Markup($"[grey]{Markup.Escape(name)}[/]"), new Text(value));
        }
        return table;
    }

    public static string Number(double value, int decimals = 2) => value.ToString($"N{decimals}", CultureInfo.InvariantCulture);

    public static string Share(double value) => value.ToString("P1", CultureInfo.InvariantCulture);

    public static string When(Google.Protobuf.WellKnownTypes.Timestamp? at) =>
        at is null ? "" : at.ToDateTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);

    public static string Day(Google.Protobuf.WellKnownTypes.Timestamp? at) =>
        at is null ? "" : at.ToDateTime().ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <summary>The API's cause names (EVENT, INACTIVITY, RETRAIN).</summary>
    public static string Cause(Api.V1.Cause cause) => cause.ToString().ToUpperInvariant();
}
