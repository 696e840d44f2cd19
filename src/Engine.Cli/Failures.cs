using Grpc.Core;

namespace Engine.Cli;

/// <summary>The <c>engine</c> command's exit codes.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int Usage = 2;
    public const int NotFound = 3;
    public const int Unavailable = 4;
    public const int RowsRejected = 5;
}

/// <summary>A usage error: wrong or missing options, a column the file does not have. Exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// Runs a command's action and turns what it throws into one line on stderr and an exit code: <c>error: NOT_FOUND
/// customer 'nosuch'</c>. <c>--verbose</c> adds the stack.
/// </summary>
public static class Failures
{
    public static async Task<int> RunAsync(bool verbose, Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (e is RpcException or UsageException or IOException or FormatException or HttpRequestException)
        {
            var (code, line) = Describe(e);
            Console.Error.WriteLine($"error: {line}");
            if (verbose)
            {
                Console.Error.WriteLine(e);
            }
            return code;
        }
    }

    public static (int Code, string Line) Describe(Exception e) => e switch
    {
        RpcException { StatusCode: StatusCode.NotFound } r => (ExitCodes.NotFound, $"NOT_FOUND {r.Status.Detail}"),
        RpcException { StatusCode: StatusCode.Unavailable } r => (ExitCodes.Unavailable, $"UNAVAILABLE {Unavailable(r)}"),
        RpcException { StatusCode: StatusCode.DeadlineExceeded } r => (ExitCodes.Unavailable, $"DEADLINE_EXCEEDED {r.Status.Detail}"),
        RpcException r => (ExitCodes.Failure, $"{Name(r.StatusCode)} {r.Status.Detail}"),
        UsageException u => (ExitCodes.Usage, u.Message),
        _ => (ExitCodes.Failure, e.Message),
    };

    /// <summary>The transport's detail says "Error connecting to subchannel." and the like; the address is what helps.</summary>
    private static string Unavailable(RpcException r) =>
        r.Status.DebugException is { } inner ? $"no server answers ({inner.Message})" : r.Status.Detail;

    /// <summary>The status as gRPC spells it: NOT_FOUND, INVALID_ARGUMENT, …</summary>
    private static string Name(StatusCode code) =>
        string.Concat(code.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? $"_{c}" : $"{char.ToUpperInvariant(c)}"));
}
