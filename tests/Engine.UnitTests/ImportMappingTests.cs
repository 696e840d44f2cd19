using Engine.Api.V1;
using Engine.Cli;
using Engine.Cli.Import;

namespace Engine.UnitTests;

/// <summary>The import's column mapping: amount expressions, times, types from a pattern, and rejections that say why.</summary>
public class ImportMappingTests
{
    private static readonly string[] Header = ["InvoiceNo", "Quantity", "Unit Price", "When", "Customer", "Sku"];

    private static ImportItem Map(ColumnMapping mapping, params string[] row) =>
        new RowMapper(mapping, Header, "file.csv").Map(7, i => row[i]);

    [Theory]
    [InlineData("Quantity", 3)]
    [InlineData("Quantity*`Unit Price`", 7.5)]
    [InlineData("abs(-Quantity * `Unit Price`) + 1", 8.5)]
    [InlineData("(Quantity - 1) / 4", 0.5)]
    [InlineData("2 * -(Quantity) + 1e1", 4)]
    public void An_amount_expression_is_arithmetic_over_columns(string expression, double expected)
    {
        var amount = AmountExpression.Parse(expression, Header);
        Assert.Equal(expected, amount.Evaluate(i => i switch { 1 => "3", 2 => "2.5", _ => "x" }), 9);
    }

    [Theory]
    [InlineData("Quantity *", "expected a column, a number or '(' at character 11")]
    [InlineData("Qty", "no column 'Qty'")]
    [InlineData("abs(Quantity", "expected ')'")]
    [InlineData("Quantity Quantity", "unexpected 'Q'")]
    public void A_bad_amount_expression_says_where(string expression, string message)
    {
        var e = Assert.Throws<FormatException>(() => AmountExpression.Parse(expression, Header));
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("2010-12-01", null, null, "2010-12-01T00:00:00Z")]
    [InlineData("2010-12-01 08:26:00", null, null, "2010-12-01T08:26:00Z")]
    [InlineData("2010-12-01T08:26:00.25Z", null, null, "2010-12-01T08:26:00.25Z")]
    [InlineData("2010-12-01T08:26+02:00", null, null, "2010-12-01T06:26:00Z")]
    [InlineData("2010-07-01 08:26", null, "Europe/London", "2010-07-01T07:26:00Z")]
    [InlineData("01/12/2010 08:26", "dd/MM/yyyy HH:mm", null, "2010-12-01T08:26:00Z")]
    public void Times_are_ISO_8601_or_a_format_and_UTC_unless_a_zone_is_named(string text, string? format, string? zone, string expected)
    {
        var utc = new EventTime(format, zone).Parse(text);
        Assert.Equal(DateTimeKind.Utc, utc.Kind);
        Assert.Equal(DateTime.Parse(expected, null, System.Globalization.DateTimeStyles.AdjustToUniversal), utc);
    }

    [Fact]
    public void A_row_becomes_an_event_with_its_type_from_a_pattern_and_a_default_id()
    {
        var mapping = new ColumnMapping("Customer", "When", "abs(Quantity*`Unit Price`)", TypeFrom: ["InvoiceNo:^C=REFUND"], Category: "Sku");
        var refund = Map(mapping, "C536379", "-2", "27.5", "2010-12-01", " 14527 ", "D").Event!;
        Assert.Equal((EventType.Refund, 55.0, "14527", "file.csv:7", "D"), (refund.Type, refund.Amount, refund.CustomerId, refund.EventId, refund.Category));
        var purchase = Map(mapping with { EventId = "InvoiceNo,Sku" }, "536365", "2", "1.5", "2010-12-01", "17850", "85123A").Event!;
        Assert.Equal((EventType.Purchase, 3.0, "536365:85123A"), (purchase.Type, purchase.Amount, purchase.EventId));
    }

    [Fact]
    public void A_row_that_cannot_be_an_event_is_a_rejection_naming_the_column()
    {
        var mapping = new ColumnMapping("Customer", "When", "Quantity*`Unit Price`");
        Assert.StartsWith("When: ", Map(mapping, "1", "2", "1", "yesterday", "c", "s").Rejection);
        Assert.StartsWith("Unit Price: 'n/a' is not a number", Map(mapping, "1", "2", "n/a", "2010-12-01", "c", "s").Rejection);
        Assert.StartsWith("amount: -2 ", Map(mapping, "1", "-2", "1", "2010-12-01", "c", "s").Rejection);
        Assert.StartsWith("Customer: empty customer id", Map(mapping, "1", "2", "1", "2010-12-01", " ", "s").Rejection);
        Assert.Equal(7, Map(mapping, "1", "2", "1", "2010-12-01", " ", "s").Line);
    }

    [Fact]
    public void Options_that_cannot_work_are_usage_errors_before_any_row()
    {
        Assert.Contains("no column 'Client'", Assert.Throws<UsageException>(() => new RowMapper(new ColumnMapping("Client", "When", "Quantity"), Header, "f")).Message);
        Assert.Contains("is not COLUMN:REGEX=TYPE", Assert.Throws<UsageException>(() => new RowMapper(new ColumnMapping("Customer", "When", "Quantity", TypeFrom: ["InvoiceNo"]), Header, "f")).Message);
        Assert.Contains("'RETURN' is not an event type", Assert.Throws<UsageException>(() => RowMapper.ParseType("RETURN", "--type")).Message);
        Assert.Equal(EventType.PageView, RowMapper.ParseType("page_view", "--type"));
        Assert.Contains("not a time zone", Assert.Throws<UsageException>(() => new EventTime(null, "Mars/Olympus")).Message);
    }
}
