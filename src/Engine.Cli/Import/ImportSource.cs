using nietras.SeparatedValues;

namespace Engine.Cli.Import;

/// <summary>
/// A file to import, read as a stream of <see cref="ImportItem"/>s with their line numbers: CSV or TSV through Sep
/// (quotes, a BOM, CRLF or LF), or the CDNOW master file. Memory stays bounded: rows are read one at a time, and only
/// the cells the mapping uses are copied out. <see cref="Progress"/> is how far through the file the reader is.
/// </summary>
public sealed class ImportSource : IDisposable
{
    private readonly FileStream _stream;
    private readonly Func<IEnumerable<ImportItem>> _items;
    private readonly IDisposable? _reader;

    private ImportSource(FileStream stream, Func<IEnumerable<ImportItem>> items, IDisposable? reader)
    {
        _stream = stream;
        _items = items;
        _reader = reader;
    }

    /// <summary>The share of the file's bytes read so far, 0 to 1 (the reader reads ahead a buffer).</summary>
    public double Progress => _stream.Length == 0 ? 1 : Math.Min(1, (double)_stream.Position / _stream.Length);

    public IEnumerable<ImportItem> Items() => _items();

    /// <param name="format">csv, tsv or cdnow.</param>
    /// <param name="mapping">The column mapping (csv and tsv).</param>
    /// <param name="source">The event ids' prefix when the mapping names no id columns (CDNOW's ids are <c>cdnow-LINE</c>).</param>
    public static ImportSource Open(string path, string format, ColumnMapping? mapping, string source)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            if (format == "cdnow")
            {
                return new ImportSource(stream, () => CdnowFile.Read(stream), null);
            }
            var reader = Sep.Reader(o => o with
            {
                Sep = new Sep(format == "tsv" ? '\t' : ','),
                Unescape = true,
                // A row with another number of cells is a rejection with its line number, not the end of the import.
                DisableColCountCheck = true,
            }).From(stream);
            var header = reader.Header.ColNames;
            var mapper = new RowMapper(mapping ?? throw new UsageException("--customer, --time and --amount are required for csv and tsv"), header, source);
            return new ImportSource(stream, () => Rows(reader, header.Count, mapper), reader);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private static IEnumerable<ImportItem> Rows(SepReader reader, int columns, RowMapper mapper)
    {
        var cells = new string[columns];
        foreach (var row in reader)
        {
            yield return Map(row, cells, mapper);
        }
    }

    private static ImportItem Map(SepReader.Row row, string[] cells, RowMapper mapper)
    {
        var line = row.LineNumberFrom;
        if (row.ColCount != cells.Length)
        {
            return new ImportItem(line, null, $"has {row.ColCount} cells, the header has {cells.Length}");
        }
        foreach (var i in mapper.Columns)
        {
            cells[i] = row[i].ToString();
        }
        return mapper.Map(line, i => cells[i]);
    }

    public void Dispose()
    {
        _reader?.Dispose();
        _stream.Dispose();
    }
}
