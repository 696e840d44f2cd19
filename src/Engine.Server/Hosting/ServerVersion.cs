using System.Reflection;

namespace Engine.Server.Hosting;

/// <summary>The server's version as users see it (GetServerInfo, the start-up line): the informational version, 0.2.0.</summary>
public static class ServerVersion
{
    public static readonly string Current =
        typeof(ServerVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";
}
