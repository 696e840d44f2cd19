using System.Net;
using System.Net.Sockets;

namespace Engine.Testing;

/// <summary>
/// Free loopback ports for servers a test or benchmark starts, so they never collide with each other or a developer's
/// server. A port is handed out once per process: two servers asked for in a row never get the same one.
/// </summary>
public static class FreePorts
{
    private static readonly HashSet<int> Handed = [];

    public static int Next()
    {
        lock (Handed)
        {
            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                listener.Stop();
                if (Handed.Add(port))
                {
                    return port;
                }
            }
        }
    }
}
