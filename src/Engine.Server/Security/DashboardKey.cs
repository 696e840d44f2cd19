namespace Engine.Server.Security;

/// <summary>
/// The Orleans Dashboard (off by default) shows every silo and grain: with keys configured it needs an admin key, sent
/// as <c>authorization: Bearer KEY</c> (a browser through a proxy that adds the header, or a port-forward). The other
/// HTTP paths outside the API stay open: probes (/healthz, /livez), /metrics for scrapers, /openapi (the public schema).
/// </summary>
public static class DashboardKey
{
    public static WebApplication UseDashboardKey(this WebApplication app, ApiKeys keys, string path)
    {
        if (!keys.Enabled)
        {
            return app;
        }
        app.Use(async (http, next) =>
        {
            if (!http.Request.Path.StartsWithSegments(path))
            {
                await next(http);
                return;
            }
            var key = ApiKeys.BearerOf(http.Request.Headers.Authorization.ToString());
            var caller = key is null ? null : keys.Find(key);
            if (caller is null)
            {
                http.Response.StatusCode = StatusCodes.Status401Unauthorized;
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return;
            }
            if (!caller.May(Role.Admin))
            {
                http.Response.StatusCode = StatusCodes.Status403Forbidden;
                return;
            }
            await next(http);
        });
        return app;
    }
}
