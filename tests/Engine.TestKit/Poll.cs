namespace Engine.TestKit;

/// <summary>Waiting for something eventual (a webhook delivered, a state reached) without a fixed sleep.</summary>
public static class Poll
{
    /// <summary>Calls <paramref name="read"/> until <paramref name="done"/> holds or 60 s pass; returns the last answer.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        T value;
        while (!done(value = await read()) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
        return value;
    }
}
