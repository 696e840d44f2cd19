using System.Net;

namespace Engine.ProcessTests;

/// <summary>
/// A real HTTP endpoint on loopback that keeps every request's path and body and answers with a fixed status: a
/// webhook receiver, or an OTLP/HTTP collector (POST /v1/traces).
/// </summary>
public sealed class HttpSink : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private readonly List<(string Path, byte[] Body)> _requests = [];

    public HttpSink(int status = 200)
    {
        var port = FreePorts.Next();
        Address = $"http://127.0.0.1:{port}";
        _listener.Prefixes.Add(Address + "/");
        _listener.Start();
        _loop = Task.Run(async () =>
        {
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
                await context.Request.InputStream.CopyToAsync(body);
                lock (_requests)
                {
                    _requests.Add((context.Request.Url!.AbsolutePath, body.ToArray()));
                }
                context.Response.StatusCode = status;
                context.Response.Close();
            }
        });
    }

    /// <summary>http://127.0.0.1:port, no trailing slash.</summary>
    public string Address { get; }

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

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop;
    }
}
