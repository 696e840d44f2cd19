using Engine.Server.Hosting;

// Engine: an Orleans silo with the gRPC API. Configuration: appsettings.json, env vars Engine__X, --Engine:X=value.
return await EngineHost.RunAsync(args);
