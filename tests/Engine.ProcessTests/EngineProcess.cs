namespace Engine.ProcessTests;

/// <summary>
/// The real server as its own OS process (the built Engine.Server.dll) with a test's settings, and that test's
/// clients for it (<see cref="Client"/>). Starting it again after a kill or a stop is a restart on the same data, with
/// the settings as they are then (a test may change one to see the restart refused).
/// </summary>
public sealed class EngineProcess(EngineServer config) : IAsyncDisposable
{
    private ServerProcess? _process;

    public EngineServer Client => config;

    public Task StartAsync()
    {
        _process?.Kill();
        _process = ServerProcess.ForEngine(config.Settings);
        return _process.StartAsync();
    }

    /// <summary>SIGTERM; the exit code once the process is gone.</summary>
    public Task<int> TerminateAsync() => Running.TerminateAsync();

    /// <summary>SIGKILL: no shutdown hooks, no checkpoint, no flush.</summary>
    public void Kill() => _process?.Kill();

    private ServerProcess Running => _process ?? throw new InvalidOperationException("The server process was not started.");

    public async ValueTask DisposeAsync()
    {
        Kill();
        await config.StopAsync();
    }
}

/// <summary>
/// Tests that run server processes on PostgreSQL take turns: together they would pass the server's connection limit,
/// and on two cores a busy neighbour can make a silo miss membership probes.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ServerProcesses
{
    public const string Name = "server processes";
}
