using System.Net;

namespace Engine.Testing;

/// <summary>
/// A real HTTP endpoint on loopback that answers every request with a fixed status: a webhook receiver, or an
/// OTLP/HTTP collector (POST /v1/traces). It counts the bytes it takes and, unless told not to (a bench's sink that
/// must not grow), keeps every request's path and body.
/// </summary>
public sealed class HttpSink : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private readonly List<(string Path, byte[] Body)> _requests = [];
    private readonly bool _keep;
    private long _bytes;

    public HttpSink(int status = 200, bool keep = true)
    {
        _keep = keep;
        Address = $"http://127.0.0.1:{FreePorts.Next()}";
        _listener.Prefixes.Add(Address + "/");
        _listener.Start();
        _loop = Task.Run(() => LoopAsync(status));
    }

    /// <summary>http://127.0.0.1:port, no trailing slash.</summary>
    public string Address { get; }

    /// <summary>Bytes of request bodies taken.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    public IReadOnlyList<(string Path, byte[] Body)> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    private async Task LoopAsync(int status)
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
            using var body = new MemoryStream();
            int read;
            while ((read = await context.Request.InputStream.ReadAsync(buffer)) > 0)
            {
                Interlocked.Add(ref _bytes, read);
                if (_keep)
                {
                    body.Write(buffer, 0, read);
                }
            }
            if (_keep)
            {
                lock (_requests)
                {
                    _requests.Add((context.Request.Url!.AbsolutePath, body.ToArray()));
                }
            }
            context.Response.StatusCode = status;
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
