using System.Reflection;

namespace Engine.Storage;

/// <summary>The schema scripts in deploy/sql, embedded in this assembly, in file-name order per dialect.</summary>
public static class SqlScripts
{
    public static IReadOnlyList<(string Name, string Text)> For(string dialect)
    {
        var assembly = typeof(SqlScripts).Assembly;
        var prefix = $"sql/{dialect}/";
        return assembly.GetManifestResourceNames()
            .Select(n => n.Replace('\\', '/'))
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(n => (n[prefix.Length..], Read(assembly, n)))
            .ToArray();
    }

    private static string Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded script {name} is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
