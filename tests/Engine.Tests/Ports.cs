using System.Net;
using System.Net.Sockets;

namespace Engine.Tests;

/// <summary>Free loopback ports for servers started by tests, so tests never collide with each other or a dev server.</summary>
public static class Ports
{
    private static readonly HashSet<int> Handed = [];

    public static int Free()
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
