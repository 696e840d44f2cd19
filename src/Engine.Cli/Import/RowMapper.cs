using System.Globalization;
using System.Text.RegularExpressions;
using Engine.Api.V1;
using Google.Protobuf.WellKnownTypes;

namespace Engine.Cli.Import;

/// <summary>One data row of a file: its event, or why it has none (with the row's line number either way).</summary>
public sealed record ImportItem(int Line, Event? Event, string? Rejection);

/// <summary>How the columns of a file become events: the <c>engine import</c> mapping options.</summary>
public sealed record ColumnMapping(
    string Customer,
    string Time,
    string Amount,
    string? TimeFormat = null,
    string? TimeZone = null,
    EventType Type = EventType.Purchase,
    IReadOnlyList<string>? TypeFrom = null,
    string? Category = null,
    string? EventId = null);

/// <summary>
/// Turns a row's cells into an event under a <see cref="ColumnMapping"/>, resolved once against the file's header. A
/// row that cannot become an event is a rejection naming the column and the reason, never skipped. Only what the file
/// itself decides is checked here (cells present, numbers, times, a non-negative amount); the server checks the rest.
/// </summary>
public sealed class RowMapper
{
    private readonly int _customer;
    private readonly int _time;
    private readonly int? _category;
    private readonly int[] _eventId;
    private readonly string _source;
    private readonly AmountExpression _amount;
    private readonly EventTime _times;
    private readonly EventType _type;
    private readonly (int Column, Regex Pattern, EventType Type)[] _typeRules;
    private readonly string[] _header;

    public RowMapper(ColumnMapping mapping, IReadOnlyList<string> header, string source)
    {
        _header = [.. header];
        _source = source;
        _customer = Column(mapping.Customer, "--customer");
        _time = Column(mapping.Time, "--time");
        _category = mapping.Category is { } c ? Column(c, "--category") : null;
        _eventId = mapping.EventId is { } ids ? [.. ids.Split(',').Select(id => Column(id.Trim(), "--event-id"))] : [];
        try
        {
            _amount = AmountExpression.Parse(mapping.Amount, header);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
        _times = new EventTime(mapping.TimeFormat, mapping.TimeZone);
        _type = mapping.Type;
        _typeRules = [.. (mapping.TypeFrom ?? []).Select(TypeRule)];
        Columns = [.. new[] { _customer, _time }.Concat(_amount.Columns).Concat(_eventId).Concat(_typeRules.Select(r => r.Column))
            .Concat(_category is { } cat ? [cat] : []).Distinct().Order()];
    }

    /// <summary>The header positions a row's mapping reads (the others need not be copied out of the file).</summary>
    public int[] Columns { get; }

    public ImportItem Map(int line, Func<int, string> cell)
    {
        var customer = cell(_customer).Trim();
        if (customer.Length == 0)
        {
            return new ImportItem(line, null, $"{_header[_customer]}: empty customer id");
        }
        DateTime at;
        double amount;
        try
        {
            at = _times.Parse(cell(_time));
        }
        catch (FormatException e)
        {
            return new ImportItem(line, null, $"{_header[_time]}: {e.Message}");
        }
        try
        {
            amount = _amount.Evaluate(cell);
        }
        catch (FormatException e)
        {
            return new ImportItem(line, null, e.Message);
        }
        if (!double.IsFinite(amount) || amount < 0)
        {
            return new ImportItem(line, null, $"amount: {amount.ToString(CultureInfo.InvariantCulture)} from '{string.Join(" ", _amount.Columns.Select(i => $"{_header[i]}={cell(i)}"))}' must be finite and >= 0 (abs(...) takes the magnitude)");
        }
        var type = _type;
        foreach (var (column, pattern, ruleType) in _typeRules)
        {
            if (pattern.IsMatch(cell(column)))
            {
                type = ruleType;
                break;
            }
        }
        var result = new Event
        {
            EventId = _eventId.Length == 0 ? $"{_source}:{line}" : string.Join(':', _eventId.Select(i => cell(i).Trim())),
            CustomerId = customer,
            Type = type,
            OccurredAt = Timestamp.FromDateTime(at),
            Amount = amount,
        };
        if (_category is { } category)
        {
            result.Category = cell(category).Trim();
        }
        return new ImportItem(line, result, null);
    }

    /// <summary>An event type by its proto name (PURCHASE, PAGE_VIEW, …), any case.</summary>
    public static EventType ParseType(string name, string option) =>
        System.Enum.TryParse<EventType>(name.Replace("_", ""), ignoreCase: true, out var t) && t != EventType.Unspecified && System.Enum.IsDefined(t)
            ? t
            : throw new UsageException($"{option}: '{name}' is not an event type (PURCHASE, REFUND, SESSION, PAGE_VIEW, CART_ADD, CART_ABANDON, SUPPORT_TICKET, SIGNUP)");

    /// <summary><c>COL:REGEX=TYPE</c>: the column up to the first colon, the type after the last equals sign.</summary>
    private (int, Regex, EventType) TypeRule(string rule)
    {
        var colon = rule.IndexOf(':');
        var equals = rule.LastIndexOf('=');
        if (colon <= 0 || equals <= colon)
        {
            throw new UsageException($"--type-from: '{rule}' is not COLUMN:REGEX=TYPE (e.g. InvoiceNo:^C=REFUND)");
        }
        Regex pattern;
        try
        {
            pattern = new Regex(rule[(colon + 1)..equals], RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--type-from: '{rule[(colon + 1)..equals]}' is not a regular expression: {e.Message}");
        }
        return (Column(rule[..colon], "--type-from"), pattern, ParseType(rule[(equals + 1)..], "--type-from"));
    }

    private int Column(string name, string option)
    {
        var i = Array.IndexOf(_header, name);
        return i >= 0 ? i : throw new UsageException($"{option}: no column '{name}' (the header has {string.Join(", ", _header)})");
    }
}
