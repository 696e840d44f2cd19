using System.Globalization;

namespace Engine.Cli.Import;

/// <summary>
/// <c>--amount</c>: a column name, or arithmetic over columns and numbers: <c>+ - * /</c>, unary minus, parentheses and
/// <c>abs(…)</c>, e.g. <c>abs(Quantity*UnitPrice)</c>. A column name is letters, digits, <c>_</c> and <c>.</c>, not
/// starting with a digit; any other name is written in backquotes (<c>`Unit Price`</c>). Parsed once against the
/// header; evaluated per row over the columns it names.
/// </summary>
public sealed class AmountExpression
{
    private readonly Func<Func<int, string>, double> _evaluate;

    private AmountExpression(Func<Func<int, string>, double> evaluate, int[] columns)
    {
        _evaluate = evaluate;
        Columns = columns;
    }

    /// <summary>The header positions the expression reads.</summary>
    public int[] Columns { get; }

    /// <summary>Parses <paramref name="text"/>; a column not in <paramref name="header"/> or bad syntax throws with the position.</summary>
    public static AmountExpression Parse(string text, IReadOnlyList<string> header)
    {
        var parser = new Parser(text, header);
        var evaluate = parser.Expression();
        parser.End();
        return new AmountExpression(evaluate, [.. parser.Columns]);
    }

    /// <summary>The value for one row; <paramref name="column"/> gives a column's text. A cell that is not a number throws
    /// <see cref="FormatException"/> naming the column.</summary>
    public double Evaluate(Func<int, string> column) => _evaluate(column);

    private sealed class Parser(string text, IReadOnlyList<string> header)
    {
        private int _at;

        public SortedSet<int> Columns { get; } = [];

        public Func<Func<int, string>, double> Expression()
        {
            var left = Term();
            while (Peek() is '+' or '-')
            {
                var op = text[_at++];
                var (l, r) = (left, Term());
                left = op == '+' ? row => l(row) + r(row) : row => l(row) - r(row);
            }
            return left;
        }

        public void End()
        {
            if (Peek() is { } c)
            {
                throw Error($"unexpected '{c}'");
            }
        }

        private Func<Func<int, string>, double> Term()
        {
            var left = Unary();
            while (Peek() is '*' or '/')
            {
                var op = text[_at++];
                var (l, r) = (left, Unary());
                left = op == '*' ? row => l(row) * r(row) : row => l(row) / r(row);
            }
            return left;
        }

        private Func<Func<int, string>, double> Unary()
        {
            if (Peek() == '-')
            {
                _at++;
                var inner = Unary();
                return row => -inner(row);
            }
            return Primary();
        }

        private Func<Func<int, string>, double> Primary()
        {
            var c = Peek() ?? throw Error("expected a column, a number or '('");
            if (c == '(')
            {
                _at++;
                var inner = Expression();
                Expect(')');
                return inner;
            }
            if (char.IsDigit(c) || c == '.')
            {
                var start = _at;
                while (_at < text.Length && (char.IsDigit(text[_at]) || text[_at] is '.' or 'e' or 'E'
                    || (text[_at] is '+' or '-' && text[_at - 1] is 'e' or 'E')))
                {
                    _at++;
                }
                var literal = text[start.._at];
                if (!double.TryParse(literal, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
                {
                    throw Error($"'{literal}' is not a number", start);
                }
                return _ => number;
            }
            var name = Name();
            if (name == "abs" && Peek() == '(')
            {
                _at++;
                var inner = Expression();
                Expect(')');
                return row => Math.Abs(inner(row));
            }
            var index = header.ToList().IndexOf(name);
            if (index < 0)
            {
                throw Error($"no column '{name}' (the header has {string.Join(", ", header)})");
            }
            Columns.Add(index);
            return row => Cell(row(index), name);
        }

        private string Name()
        {
            if (text[_at] == '`')
            {
                var close = text.IndexOf('`', _at + 1);
                if (close < 0)
                {
                    throw Error("unclosed '`'");
                }
                var quoted = text[(_at + 1)..close];
                _at = close + 1;
                return quoted;
            }
            var start = _at;
            while (_at < text.Length && (char.IsLetterOrDigit(text[_at]) || text[_at] is '_' or '.'))
            {
                _at++;
            }
            return _at > start ? text[start.._at] : throw Error($"unexpected '{text[_at]}'");
        }

        private void Expect(char c)
        {
            if (Peek() != c)
            {
                throw Error($"expected '{c}'");
            }
            _at++;
        }

        private char? Peek()
        {
            while (_at < text.Length && char.IsWhiteSpace(text[_at]))
            {
                _at++;
            }
            return _at < text.Length ? text[_at] : null;
        }

        private FormatException Error(string message, int? at = null) =>
            new($"--amount '{text}': {message} at character {(at ?? _at) + 1}");
    }

    private static double Cell(string value, string column) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new FormatException($"{column}: '{value}' is not a number");
}
