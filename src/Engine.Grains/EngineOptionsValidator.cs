using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>
/// The ranges of Engine's settings, class by class. A server whose settings break one does not start: it says which key, what it got
/// and what it takes, all in one line (see EngineHost).
/// </summary>
public sealed class EngineOptionsValidator :
    IValidateOptions<EngineOptions>, IValidateOptions<IngestOptions>, IValidateOptions<ModelOptions>, IValidateOptions<AlertOptions>
{
    public ValidateOptionsResult Validate(string? name, EngineOptions options) => Result(Failures(options));

    public ValidateOptionsResult Validate(string? name, IngestOptions options) => Result(Failures(options));

    public ValidateOptionsResult Validate(string? name, ModelOptions options) => Result(Failures(options));

    public ValidateOptionsResult Validate(string? name, AlertOptions options) => Result(Failures(options));

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every failure of every class, if there is any.</summary>
    public static void ThrowIfInvalid(EngineOptions engine, IngestOptions ingest, ModelOptions model, AlertOptions alert)
    {
        var failures = Failures(engine).Concat(Failures(ingest)).Concat(Failures(model)).Concat(Failures(alert)).ToList();
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(EngineOptions.Section, typeof(EngineOptions), failures);
        }
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> when the hosting settings alone fail.</summary>
    public static void ThrowIfInvalid(EngineOptions engine)
    {
        if (Failures(engine).ToList() is { Count: > 0 } failures)
        {
            throw new OptionsValidationException(EngineOptions.Section, typeof(EngineOptions), failures);
        }
    }

    private static ValidateOptionsResult Result(IEnumerable<string> failures) =>
        failures.ToList() is { Count: > 0 } list ? ValidateOptionsResult.Fail(list) : ValidateOptionsResult.Success;

    private static string? Range(string key, double value, double min, double max) =>
        value >= min && value <= max ? null : $"Engine:{key}: must be {min:G}–{max:G}, got {value:G}";

    private static string? Positive(string key, double value) => value > 0 ? null : $"Engine:{key}: must be above 0, got {value:G}";

    private static string? AtLeast(string key, TimeSpan value, TimeSpan min) =>
        value >= min ? null : $"Engine:{key}: must be at least {min:c}, got {value:c}";

    private static IEnumerable<string> Failures(EngineOptions o) => new[]
    {
        Range(nameof(o.Shards), o.Shards, 1, 1024),
        Range(nameof(o.GrpcPort), o.GrpcPort, 1, 65535),
        Range(nameof(o.HttpPort), o.HttpPort, 1, 65535),
        Range(nameof(o.SiloPort), o.SiloPort, 1, 65535),
        Range(nameof(o.GatewayPort), o.GatewayPort, 1, 65535),
        o.GrpcPort == o.HttpPort ? $"Engine:HttpPort: must differ from Engine:GrpcPort ({o.GrpcPort}): gRPC is HTTP/2 only" : null,
        Range(nameof(o.PostgresPoolSize), o.PostgresPoolSize, 3, 10_000),
        o.Storage == StorageKind.Postgres && string.IsNullOrWhiteSpace(o.ConnectionString)
            ? "Engine:ConnectionString: required when Engine:Storage is postgres (e.g. Host=127.0.0.1;Username=engine;Password=…;Database=engine)"
            : null,
        string.IsNullOrWhiteSpace(o.DataDirectory) ? "Engine:DataDirectory: must not be empty" : null,
        o.Kubernetes == true && o.Storage != StorageKind.Postgres
            ? "Engine:Kubernetes: needs Engine:Storage=postgres (the embedded mode is one silo, with no cluster to host)"
            : null,
    }.OfType<string>();

    private static IEnumerable<string> Failures(IngestOptions o) => new[]
    {
        Range(nameof(o.HistoryLength), o.HistoryLength, 1, 100_000),
        Range(nameof(o.CheckpointEvery), o.CheckpointEvery, 1, 1_000_000),
        AtLeast(nameof(o.CheckpointInterval), o.CheckpointInterval, TimeSpan.FromMilliseconds(100)),
        AtLeast(nameof(o.CoverageWindow), o.CoverageWindow, TimeSpan.Zero),
        AtLeast(nameof(o.SweepInterval), o.SweepInterval, TimeSpan.FromSeconds(1)),
        Positive(nameof(o.MaxAmount), o.MaxAmount),
        AtLeast(nameof(o.MaxWatermarkJump), o.MaxWatermarkJump, TimeSpan.FromDays(1)),
        AtLeast(nameof(o.IngestLogRetention), o.IngestLogRetention, TimeSpan.Zero),
        AtLeast(nameof(o.TransitionLogRetention), o.TransitionLogRetention, TimeSpan.Zero),
        AtLeast(nameof(o.RetentionInterval), o.RetentionInterval, TimeSpan.FromMilliseconds(100)),
        Range(nameof(o.MaxEventsInFlight), o.MaxEventsInFlight, 1_000, int.MaxValue),
        AtLeast(nameof(o.IngestAdmissionWait), o.IngestAdmissionWait, TimeSpan.Zero),
    }.OfType<string>();

    private static IEnumerable<string> Failures(ModelOptions o) => new[]
    {
        Range(nameof(o.AutoTrainMinCustomers), o.AutoTrainMinCustomers, 2, int.MaxValue),
        Range(nameof(o.DefaultK), o.DefaultK, 2, 50),
        Range(nameof(o.KMin), o.KMin, 2, 50),
        Range(nameof(o.KMax), o.KMax, 2, 50),
        o.KMin > o.KMax ? $"Engine:KMin: must not be above Engine:KMax ({o.KMax}), got {o.KMin}" : null,
        AtLeast(nameof(o.RolloutSettleInterval), o.RolloutSettleInterval, TimeSpan.Zero),
        Range(nameof(o.KSwitchMargin), o.KSwitchMargin, 0, 2),
        Range(nameof(o.SilhouettePerCluster), o.SilhouettePerCluster, 2, 100_000),
        o.RetrainInterval != TimeSpan.Zero && o.RetrainInterval < TimeSpan.FromMinutes(1)
            ? $"Engine:RetrainInterval: must be 0 (off) or at least 00:01:00, got {o.RetrainInterval:c}"
            : null,
        Positive(nameof(o.DriftPsiThreshold), o.DriftPsiThreshold),
        AtLeast(nameof(o.DriftCheckInterval), o.DriftCheckInterval, TimeSpan.FromSeconds(1)),
        Range(nameof(o.DriftBins), o.DriftBins, 2, 1000),
        Positive(nameof(o.SoftmaxTemperature), o.SoftmaxTemperature),
        Positive(nameof(o.ClvHorizon), o.ClvHorizon),
        Range(nameof(o.MaxIterations), o.MaxIterations, 1, 100_000),
        Range(nameof(o.Tolerance), o.Tolerance, 0, 1),
        Range(nameof(o.MinInertiaGain), o.MinInertiaGain, 0, 1),
    }.OfType<string>();

    private static IEnumerable<string> Failures(AlertOptions o) => new[]
    {
        Range(nameof(o.WebhookMaxAttempts), o.WebhookMaxAttempts, 1, 1000),
        AtLeast(nameof(o.WebhookRetryDelay), o.WebhookRetryDelay, TimeSpan.Zero),
        AtLeast(nameof(o.WebhookMaxBackoff), o.WebhookMaxBackoff, o.WebhookRetryDelay),
    }.OfType<string>();
}
