using System.Net;
using Engine.Testing;

namespace Engine.Bench;

/// <summary>
/// An OTLP/HTTP endpoint that takes every export and throws it away, so a server measured with tracing on really
/// exports (serialises and posts its spans) without a collector's own cost on this machine. Counts bytes taken.
/// </summary>
public sealed class TraceSink : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private long _bytes;

    public TraceSink()
    {
        Address = $"http://127.0.0.1:{FreePorts.Next()}";
        _listener.Prefixes.Add(Address + "/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public string Address { get; }

    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>The variables that point a server's OTLP exporter here.</summary>
    public (string, string)[] Environment =>
        [("OTEL_EXPORTER_OTLP_ENDPOINT", Address), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")];

    private async Task LoopAsync()
    {
        var buffer = new byte[64 * 1024];
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (!_listener.IsListening)
            {
                return;
            }
            int read;
            while ((read = await context.Request.InputStream.ReadAsync(buffer)) > 0)
            {
                Interlocked.Add(ref _bytes, read);
            }
            context.Response.StatusCode = 200;
            context.Response.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
    }
}
