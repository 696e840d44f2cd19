using Engine.Abstractions;
using Engine.Core;
using Engine.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Grains;

/// <summary>
/// One customer. Applies logged events to its live profile, reassigns its segment against the silo-local model on
/// every change and records transitions. Durability comes from the ingest log: the checkpoint is written every
/// <see cref="EngineOptions.CheckpointEvery"/> events and on deactivation, and activation replays the log after it.
/// </summary>
public sealed partial class CustomerGrain(
    [PersistentState("customer", StorageNames.Engine)] IPersistentState<CustomerState> state,
    CustomerGrain.Services services) : Grain, ICustomerGrain
{
    /// <summary>
    /// The silo-wide services every customer uses, in one object: a grain keeps one reference instead of five, which
    /// is 32 bytes a customer, 32 MB a million.
    /// </summary>
    public sealed class Services(IIngestLog log, TransitionLogWriter transitions, IQuarantineStore quarantine, ModelReplica models, EngineClock clock, IOptions<IngestOptions> options, IOptions<ModelOptions> modelOptions,
        CustomerLookupCache lookupCache, ILogger<CustomerGrain> logger, IEventApplyFault? fault = null)
    {
        public IIngestLog Log { get; } = log;
        public TransitionLogWriter Transitions { get; } = transitions;
        public IQuarantineStore Quarantine { get; } = quarantine;
        public IEventApplyFault? Fault { get; } = fault;
        public ModelReplica Models { get; } = models;
        public EngineClock Clock { get; } = clock;
        public IngestOptions Options { get; } = options.Value;
        public ModelOptions ModelOptions { get; } = modelOptions.Value;
        public CustomerLookupCache LookupCache { get; } = lookupCache;
        public ILogger Logger { get; } = logger;
    }

    /// <summary>
    /// Transitions a recovery hands over again: those of the last calls before a crash (up to two per ingest batch a call
    /// carried, a learned and an RFM move, and a reassignment's), with room to spare.
    /// </summary>
    private const int RepublishedOnRecovery = 32;

    private IngestOptions Options => services.Options;
    // Allocated on the first transition: most calls record none, and every byte counts times a million customers.
    private List<TransitionRecord>? _unpublished;
    private CustomerProfile _profile = new();
    private int _dirty;
    // The model version in memory was raised by something a replay does not repeat (a retrain's or a sweep's
    // reassignment that moved no one, a lookup) and is not saved. A replay starts from the saved version, and which model
    // a batch is assigned under, and whether it first adopts a newer one, depends on it: the next batch is applied only
    // after saving.
    private bool _versionAhead;
    // A move that could not be saved is in memory: this activation is going and must not save it (CheckpointMoveAsync).
    private bool _discarded;
    // The latest assignment's features in the shard row's precision, with the time and event count they are for: an
    // event's assignment and the row it returns come from the same events at the same time, so the row takes them.
    private float[]? _rowFeatures;
    private DateTime _rowFeaturesAsOf;
    private long _rowFeaturesEvents;

    // Every event of this customer at or below this log position is applied (the head its last tail read saw, or the
    // end of the last batch delivered). Deliveries that promise less than that read the tail first.
    private long _coveredThrough;

    // This customer's entry in the silo's lookup cache, while it has one (published by a lookup, withdrawn by any change).
    private CustomerLookupCache.Entry? _lookup;

    private string Id => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Profile is null && state.State.LogPosition > 0)
        {
            // A stored checkpoint always carries its profile; state without one was handed over in memory (Orleans
            // moving the activation to another silo), where the live profile does not travel. Start from storage and
            // the log instead: what was not checkpointed is re-derived from the log, as after a crash.
            await state.ReadStateAsync();
        }
        TakeProfileFromState();
        await CatchUpAsync(restoreMoves: true);
    }

    /// <summary>The profile from the loaded checkpoint (a new one without it).</summary>
    private void TakeProfileFromState()
    {
        _profile = state.State.Profile is { } bytes ? CustomerProfile.FromBytes(bytes) : new CustomerProfile();
        // The live profile is the truth now; the serialized copy would only double the grain's memory.
        state.State.Profile = null;
        // A history written before 0.2.0 says "" for a first assignment's origin (see Unassigned).
        var history = state.State.History;
        for (var i = 0; i < history.Count; i++)
        {
            if (history[i].FromSegmentId.Length == 0)
            {
                history[i] = history[i] with { FromSegmentId = Unassigned.SegmentId };
            }
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        WithdrawLookup();
        if (_dirty > 0 && !_discarded)
        {
            await CheckpointAsync();
        }
    }

    public async Task EraseAsync()
    {
        WithdrawLookup();
        if (state.RecordExists)
        {
            await state.ClearStateAsync();
        }
        state.State = new CustomerState();
        _profile = new CustomerProfile();
        (_unpublished, _rowFeatures, _dirty, _coveredThrough, _versionAhead) = (null, null, 0, 0, false);
        // Nothing of this activation may be saved on the way out.
        _discarded = true;
        DeactivateOnIdle();
    }

    public async ValueTask<ApplyResult> ApplyAsync(Delivery delivery)
    {
        WithdrawLookup();
        int applied;
        if (delivery.CompleteAfter > _coveredThrough)
        {
            // Another silo may have appended events of ours that this delivery does not carry: the log has them all.
            applied = await CatchUpAsync();
        }
        else
        {
            applied = await ApplyEventsAsync(delivery.Events);
        }
        _coveredThrough = Math.Max(_coveredThrough, delivery.Through);
        if (applied > 0 && _dirty >= Options.CheckpointEvery)
        {
            await CheckpointAsync();
        }
        return Result(applied);
    }

    public ValueTask<CustomerView?> GetAsync()
    {
        if (_profile.EventCount == 0)
        {
            // Nothing to keep in memory for an unknown id.
            DeactivateOnIdle();
            return ValueTask.FromResult<CustomerView?>(null);
        }
        var asOf = services.Clock.Now;
        var model = services.Models.Current;
        var s = state.State;
        if (model is not null && s.SegmentId != ModelSnapshot.Unassigned && model.Version > s.ModelVersion
            && CustomerViews.Keeps(model, _profile, s.SegmentId, s.RfmSegmentId, asOf, services.ModelOptions))
        {
            s.ModelVersion = model.Version;
            _versionAhead = true;
        }
        // The next lookups of this customer need no call until it changes (the entry is withdrawn first, WithdrawLookup);
        // but not while a newer model may still raise its version (Keeps turns true as time passes), which only this call does.
        if (model is null || s.SegmentId == ModelSnapshot.Unassigned || s.ModelVersion >= model.Version)
        {
            _lookup = new CustomerLookupCache.Entry(_profile, s.SegmentId, s.ModelVersion, model?.Version);
            services.LookupCache.Publish(Id, _lookup);
        }
        else
        {
            WithdrawLookup();
        }
        return ValueTask.FromResult<CustomerView?>(CustomerViews.Of(Id, _profile, s.SegmentId, s.ModelVersion, model, asOf, services.ModelOptions));
    }

    /// <summary>
    /// Withdraws this customer's lookup entry before a call that can change it, and takes its own copy of the profile the
    /// entry shares (lookups on other threads may be reading it): the first thing every such call does.
    /// </summary>
    private void WithdrawLookup()
    {
        if (_lookup is { } entry)
        {
            services.LookupCache.Withdraw(Id, entry);
            _lookup = null;
            _profile = _profile.Clone();
        }
    }

    public Task<TransitionRecord[]> GetHistoryAsync(int limit)
    {
        var history = state.State.History;
        var take = limit <= 0 ? history.Count : Math.Min(limit, history.Count);
        var result = new TransitionRecord[take];
        for (var i = 0; i < take; i++)
        {
            result[i] = history[history.Count - 1 - i];
        }
        return Task.FromResult(result);
    }

    public async Task<ApplyResult> ReassignAsync(long modelVersion)
    {
        WithdrawLookup();
        var model = await services.Models.EnsureAsync(modelVersion);
        if (_profile.EventCount == 0)
        {
            return ApplyResult.Empty;
        }
        if (state.State.ModelVersion > (model?.Version ?? 0))
        {
            // A batch logged under a newer model reached the customer first: an assignment never goes back.
            return Result(0);
        }
        // Not before the customer's own latest assignment either: it may have applied a batch the pipeline has not yet
        // marked applied (the whole batch's calls are not back), and its profile already holds that batch's events.
        var now = AssignmentRules.ReassignAt(services.Clock.AppliedNow, state.State.AssignedAt);
        var (before, version) = (state.State.TransitionCount, state.State.ModelVersion);
        Assign(model, now, now, TransitionCause.Retrain);
        if (state.State.TransitionCount != before)
        {
            // A move is not log-driven, so a replay could not re-derive it: make it durable now. A customer the model
            // leaves where it is needs no write (a replay assigns its unsaved events under the models logged with them).
            await CheckpointMoveAsync();
        }
        else
        {
            _versionAhead |= state.State.ModelVersion != version;
        }
        return Result(0);
    }

    public async Task<ApplyResult> SweepAsync(DateTime at)
    {
        WithdrawLookup();
        if (_profile.EventCount == 0 || at < state.State.AssignedAt)
        {
            return _profile.EventCount == 0 ? ApplyResult.Empty : Result(0);
        }
        var (before, version) = (state.State.TransitionCount, state.State.ModelVersion);
        Assign(await CurrentOrOwnModelAsync(), at, at, TransitionCause.Inactivity);
        if (state.State.TransitionCount != before)
        {
            return await PublishMovesAsync();
        }
        _versionAhead |= state.State.ModelVersion != version;
        return Result(0);
    }

    /// <summary>
    /// Makes a sweep's moves durable without a checkpoint: the customer writes their transition rows itself, before it
    /// answers, and each carries its log position, so an activation re-applies it between the same events
    /// (<see cref="RestoreMove"/>) and no later call builds on a move the log lacks. The rows of the shards' customers
    /// go out together (the log's group commit). If the write fails, the checkpoint makes the moves durable instead, and
    /// they go to the shard to log as before. The answer counts the learned moves written (<see cref="ApplyResult.Moved"/>).
    /// A checkpoint per move was most of an event-time import's cost (deploy/bench/HISTORY.md, "Behind the code").
    /// </summary>
    private async Task<ApplyResult> PublishMovesAsync()
    {
        int moved;
        try
        {
            moved = await services.Transitions.AppendOnceAsync(_unpublished ?? []);
        }
        catch (Exception ex)
        {
            LogMovesNotWritten(services.Logger, ex, Id);
            await CheckpointMoveAsync();
            return Result(0);
        }
        _unpublished = null;
        return Result(0) with { Moved = moved };
    }

    public async Task<ApplyResult> RecoverAsync()
    {
        WithdrawLookup();
        var applied = await CatchUpAsync();
        if (_profile.EventCount == 0)
        {
            return ApplyResult.Empty;
        }
        // Recovery is asked for when a call's outcome may have been lost with a silo: this customer may have
        // checkpointed transitions that the caller died before logging, and a replay re-derives only what comes after
        // the checkpoint. Hand the latest ones over again; the log ignores the ones it has.
        var history = state.State.History;
        var recent = history.Skip(Math.Max(0, history.Count - RepublishedOnRecovery));
        _unpublished = [.. recent.UnionBy(_unpublished ?? [], t => t.Number).OrderBy(t => t.Number)];
        return Result(applied);
    }

    /// <summary>
    /// The silo's current model, or the customer's own if this silo's is older (a batch logged under a newer one reached
    /// it first): what a change no event brings is assigned under.
    /// </summary>
    private async Task<ModelSnapshot?> CurrentOrOwnModelAsync()
    {
        var own = state.State.ModelVersion;
        return services.Models.Current is { } current && current.Version >= own ? current : await services.Models.GetAsync(own);
    }

    public async Task CheckpointAsync()
    {
        state.State.Profile = _profile.ToBytes();
        try
        {
            await state.WriteStateAsync();
        }
        finally
        {
            state.State.Profile = null;
        }
        (_dirty, _versionAhead) = (0, false);
    }

    public Task CheckpointIfBehindAsync() => _dirty > 0 || _versionAhead ? CheckpointAsync() : Task.CompletedTask;

    /// <summary>
    /// Makes a retrain's or a sweep's move durable. If the write fails, the move must not live on in memory: a recovery
    /// would hand it over to the log, and after a crash the customer, replaying from the checkpoint without it, would
    /// give its number to a different move, which the log would then drop as a repeat. So this activation goes (without
    /// the checkpoint at deactivation), and the next call starts from the stored checkpoint and the log.
    /// </summary>
    private async Task CheckpointMoveAsync()
    {
        try
        {
            await CheckpointAsync();
        }
        catch
        {
            _discarded = true;
            DeactivateOnIdle();
            throw;
        }
    }

    /// <summary>
    /// Applies the log tail after the checkpoint: on activation, and when asked to catch up. On activation also the
    /// moves by silence made since the checkpoint, each after the events it came after (<paramref name="restoreMoves"/>);
    /// later, the ones in memory are the truth.
    /// </summary>
    private async Task<int> CatchUpAsync(bool restoreMoves = false)
    {
        var tail = restoreMoves
            ? await services.Log.ReadRecoveryTailAsync(Id, state.State.LogPosition, state.State.TransitionCount)
            : await services.Log.ReadCustomerTailAsync(Id, state.State.LogPosition);
        var applied = tail.Moves is { Length: > 0 } moves ? await ApplyWithMovesAsync(tail.Events, moves) : await ApplyEventsAsync(tail.Events);
        _coveredThrough = Math.Max(_coveredThrough, tail.Head);
        if (applied > 0)
        {
            LogReplayed(services.Logger, Id, applied, state.State.LogPosition);
        }
        return applied;
    }

    /// <summary>
    /// Applies events in log order and reassigns once per ingest batch. Every batch has its own as_of, so grouping
    /// by it makes a replay after a crash take exactly the steps the live path took, transition for transition. Each
    /// batch is assigned under the model it was logged with, or the customer's own if that is newer (a retrain reached
    /// the customer before a batch its silo had stamped earlier): an assignment never goes back to an older model. A
    /// batch logged under a newer model than the customer's first adopts it (<see cref="AdoptNewerModel"/>).
    /// </summary>
    private ValueTask<int> ApplyEventsAsync(LoggedEvent[] events)
    {
        var s = state.State;
        var (pending, fetch) = (false, false);
        foreach (var e in events)
        {
            if (e.LogPosition <= s.LogPosition)
            {
                continue;
            }
            pending = true;
            fetch |= ModelVersionFor(StampOf(e)) is var version && version > 0 && services.Models.Find(version) is null;
        }
        if (!pending)
        {
            return ValueTask.FromResult(0);
        }
        // A replay would start from the saved version, lower than the one held: it could assign this batch under an older
        // model, or adopt the held one first and record a move the live path did not.
        return _versionAhead || fetch ? SaveThenApplyAsync(events, _versionAhead) : ApplyOrIsolate(events);
    }

    /// <summary>
    /// Applies events; if that throws, the customer isolates the event at fault (<see cref="IsolateAsync"/>) instead of
    /// failing every call, batch and recovery that carries it from now on. The try costs nothing on the path that works.
    /// </summary>
    private ValueTask<int> ApplyOrIsolate(LoggedEvent[] events)
    {
        try
        {
            return ValueTask.FromResult(ApplyEvents(events));
        }
        catch (Exception ex)
        {
            return new ValueTask<int>(IsolateAsync(ex));
        }
    }

    /// <summary>The model an event was logged with (<see cref="AssignmentRules.StampOf"/>).</summary>
    private long StampOf(LoggedEvent e) => AssignmentRules.StampOf(e.ModelVersion, services.Models.Current?.Version ?? 0);

    /// <summary>The model a batch logged with <paramref name="stamp"/> is assigned under (<see cref="AssignmentRules.ModelFor"/>).</summary>
    private long ModelVersionFor(long stamp) => AssignmentRules.ModelFor(stamp, state.State.ModelVersion);

    /// <summary>Checkpoints first if asked (see <see cref="ApplyEventsAsync"/>), and fetches the models the batches need.</summary>
    private async ValueTask<int> SaveThenApplyAsync(LoggedEvent[] events, bool save)
    {
        if (save)
        {
            await CheckpointAsync();
        }
        await FetchModelsAsync(events);
        return await ApplyOrIsolate(events);
    }

    /// <summary>Brings to this silo the models the events not yet applied are assigned under.</summary>
    private async Task FetchModelsAsync(LoggedEvent[] events)
    {
        foreach (var version in events.Where(e => e.LogPosition > state.State.LogPosition).Select(e => ModelVersionFor(StampOf(e))).Distinct())
        {
            if (version > 0)
            {
                await services.Models.GetAsync(version);
            }
        }
    }

    private int ApplyEvents(LoggedEvent[] events)
    {
        var applied = 0;
        var (inBatch, stamp) = (0, 0L);
        DateTime? batch = null;
        foreach (var e in events)
        {
            // The log position makes application idempotent: a replayed or re-sent event is applied once.
            if (e.LogPosition <= state.State.LogPosition)
            {
                continue;
            }
            if (batch != e.AsOf)
            {
                if (batch is { } previous)
                {
                    AssignBatch(previous, stamp, inBatch);
                    inBatch = 0;
                }
                AdoptNewerModel(e.AsOf, StampOf(e));
            }
            services.Fault?.Check(e);
            _profile.Apply(e.Kind, e.OccurredAt, e.Amount, e.Category);
            state.State.LogPosition = e.LogPosition;
            (batch, stamp) = (e.AsOf, StampOf(e));
            inBatch++;
            applied++;
        }
        if (batch is { } last)
        {
            AssignBatch(last, stamp, inBatch);
        }
        return applied;
    }

    /// <summary>
    /// Before a batch logged under a newer model than the customer's, assigns the customer under that model as it stood
    /// before the batch (cause RETRAIN). A move the new model makes is then the model's whether the rollout or the
    /// customer's next event reaches the customer first, and the batch's events move it only as far as they do: a
    /// retention team filtering on EVENT does not get a retrain's relabelling. Driven by the log (the batch's time and
    /// model), so a replay takes the same step.
    /// </summary>
    private void AdoptNewerModel(DateTime asOf, long stamp)
    {
        var version = ModelVersionFor(stamp);
        if (AssignmentRules.AdoptsNewerModel(version, state.State.ModelVersion, _profile.EventCount > 0))
        {
            Assign(ModelFor(version), asOf, asOf, TransitionCause.Retrain);
        }
    }

    private void AssignBatch(DateTime asOf, long stamp, int events)
    {
        _dirty += events;
        Assign(ModelFor(ModelVersionFor(stamp)), asOf, asOf, TransitionCause.Event);
    }

    private ModelSnapshot? ModelFor(long version)
    {
        var model = version == 0 ? null : services.Models.Find(version);
        if (version > 0 && model is null)
        {
            // Every published model is archived before it is used, so this is a model published before archiving
            // began (an upgrade) and gone from the silo since: the current one is the closest there is.
            LogModelMissing(services.Logger, Id, version);
            model = services.Models.Current;
        }
        return model;
    }

    private void Assign(ModelSnapshot? model, DateTime asOf, DateTime at, TransitionCause cause)
    {
        if (model is null)
        {
            return;
        }
        // On the stack: a heap array per assignment was 4% of the server's allocations at full ingest.
        Span<double> raw = stackalloc double[FeatureNames.Count];
        _profile.ComputeFeatures(asOf, raw);
        KeepRowFeatures(asOf, raw);
        Span<float> x = stackalloc float[raw.Length];
        ModelMath.Scale(model, raw, x);
        var nearest = KMeansMath.FindNearest(x, model.Centroids, model.K).Index;
        var to = model.SegmentIds[nearest];
        var s = state.State;
        var moves = to != s.SegmentId;
        // Drift bins a population of equal recencies by a tick of recency: see AssignmentRules.AssignedAt.
        s.AssignedAt = AssignmentRules.AssignedAt(at, s.AssignedAt, moves, byEvent: cause == TransitionCause.Event);
        if (moves)
        {
            var from = s.SegmentId;
            Record(new TransitionRecord(Id, ++s.TransitionCount, from, to, at, cause, model.Version, Explain(model, x, from, nearest),
                NameOf(from, model, s.ModelVersion), model.NameOf(to), PositionFor(cause)));
            s.SegmentId = to;
        }
        AssignRfm(model, asOf, at, cause);
        s.ModelVersion = model.Version;
    }

    /// <summary>
    /// The named RFM segment under the model's cut points at <paramref name="asOf"/>: a change is a transition of kind
    /// RFM with the same cause and time as the learned assignment beside it, and as replayable (every input comes from
    /// the profile, the batch time and the model). A customer without scores keeps the RFM segment it last had.
    /// </summary>
    private void AssignRfm(ModelSnapshot model, DateTime asOf, DateTime at, TransitionCause cause)
    {
        var s = state.State;
        if (RfmRules.SegmentOf(model.Rfm, _profile.ComputeRfm(asOf)) is not { } segment || segment.Id == s.RfmSegmentId)
        {
            return;
        }
        var from = s.RfmSegmentId ?? Unassigned.SegmentId;
        Record(new TransitionRecord(Id, ++s.TransitionCount, from, segment.Id, at, cause, model.Version, null,
            RfmScores.Find(from)?.Name ?? from, segment.Name, PositionFor(cause)));
        s.RfmSegmentId = segment.Id;
    }

    /// <summary>A move by silence carries the customer's log position (see <see cref="TransitionRecord.LogPosition"/>); others none.</summary>
    private long? PositionFor(TransitionCause cause) => cause == TransitionCause.Inactivity ? state.State.LogPosition : null;

    private void Record(TransitionRecord transition)
    {
        AddToHistory(transition);
        (_unpublished ??= []).Add(transition);
    }

    private void AddToHistory(TransitionRecord transition)
    {
        var history = state.State.History;
        history.Add(transition);
        if (history.Count > Options.HistoryLength)
        {
            history.RemoveRange(0, history.Count - Options.HistoryLength);
        }
        _dirty++;
    }

    /// <summary>
    /// Applies the tail's events with the logged moves by silence between them: each move after the events at or below
    /// its log position. A move that does not follow on from the state replayed so far (its number or its origin) ends
    /// the restore: the customer goes on from the events alone, as before moves were logged.
    /// </summary>
    private async Task<int> ApplyWithMovesAsync(LoggedEvent[] events, TransitionRecord[] moves)
    {
        var (applied, next) = (0, 0);
        foreach (var move in moves)
        {
            var end = next;
            while (end < events.Length && events[end].LogPosition <= move.LogPosition)
            {
                end++;
            }
            applied += await ApplyEventsAsync(events[next..end]);
            next = end;
            if (!RestoreMove(move))
            {
                LogMoveNotRestored(services.Logger, Id, move.Number, state.State.TransitionCount);
                break;
            }
        }
        return applied + await ApplyEventsAsync(events[next..]);
    }

    /// <summary>
    /// Re-applies a logged move by silence as <see cref="Assign"/> made it: the segment of its kind, the assignment time,
    /// the model and the number. Its features were the profile's at the move, which is where the replay stands.
    /// </summary>
    private bool RestoreMove(TransitionRecord move)
    {
        var s = state.State;
        var learned = move.Kind == SegmentKind.Learned;
        var origin = learned ? s.SegmentId : s.RfmSegmentId ?? Unassigned.SegmentId;
        if (move.Number != s.TransitionCount + 1 || move.FromSegmentId != origin)
        {
            return false;
        }
        s.AssignedAt = AssignmentRules.AssignedAt(move.At, s.AssignedAt, moves: learned, byEvent: false);
        if (learned)
        {
            s.SegmentId = move.ToSegmentId;
        }
        else
        {
            s.RfmSegmentId = move.ToSegmentId;
        }
        s.ModelVersion = Math.Max(s.ModelVersion, move.ModelVersion);
        s.TransitionCount = move.Number;
        // In the log already: not handed over again.
        AddToHistory(move);
        return true;
    }

    /// <summary>
    /// A segment's name now: under the model assigning, or else the one the customer was last assigned under (a segment a
    /// retrain retired), if this silo holds it; its id otherwise.
    /// </summary>
    private string NameOf(string segmentId, ModelSnapshot model, long previousVersion) =>
        model.SegmentIds.Contains(segmentId) ? model.NameOf(segmentId)
        : segmentId == ModelSnapshot.Unassigned ? segmentId
        : services.Models.Find(previousVersion) is { } previous && previous.SegmentIds.Contains(segmentId) ? previous.NameOf(segmentId)
        : segmentId;

    /// <summary>The features of the row as of <paramref name="asOf"/>: the latest assignment's when they are for it.</summary>
    private float[] RowFeaturesAt(DateTime asOf)
    {
        if (_rowFeatures is not { } kept || _rowFeaturesAsOf != asOf || _rowFeaturesEvents != _profile.EventCount)
        {
            Span<double> raw = stackalloc double[FeatureNames.Count];
            _profile.ComputeFeatures(asOf, raw);
            kept = KeepRowFeatures(asOf, raw);
        }
        return kept;
    }

    private float[] KeepRowFeatures(DateTime asOf, ReadOnlySpan<double> raw)
    {
        var features = new float[raw.Length];
        for (var j = 0; j < raw.Length; j++)
        {
            features[j] = Finite.ToFloat(raw[j]);
        }
        (_rowFeatures, _rowFeaturesAsOf, _rowFeaturesEvents) = (features, asOf, _profile.EventCount);
        return features;
    }

    /// <summary>The features that moved the customer most toward the new centroid and away from the old one.</summary>
    private static Driver[]? Explain(ModelSnapshot model, ReadOnlySpan<float> x, string from, int to)
    {
        var old = Array.IndexOf(model.SegmentIds, from);
        if (old < 0)
        {
            return null;
        }
        var d = model.D;
        return Explanation.Drivers(x, model.Centroids.AsSpan(old * d, d), model.Centroids.AsSpan(to * d, d), top: 3)
            .Select(c => new Driver(c.Feature, c.Contribution)).ToArray();
    }

    private ApplyResult Result(int applied)
    {
        // The row is as of the latest assignment, so the shard's aging starts from the state the segment reflects.
        var s = state.State;
        var asOf = s.AssignedAt > DateTime.MinValue ? s.AssignedAt : services.Clock.Now;
        var history = _profile.PurchaseHistory;
        var row = new ShardRow(Id, RowFeaturesAt(asOf), asOf, s.SegmentId, NextChangeByTime(asOf), s.LogPosition, s.ModelVersion,
            _profile.LastPurchaseAt, history?.FirstDay ?? -1, history?.LastDay ?? -1, history?.Days ?? 0, history?.RepeatAmount ?? 0);
        // Kept only within one call (assignment, then this row): between calls it would be dead weight per customer, and
        // the array now belongs to the row.
        _rowFeatures = null;
        var transitions = _unpublished?.ToArray() ?? [];
        _unpublished = null;
        return new ApplyResult(row, transitions, applied);
    }

    /// <summary>
    /// When time alone next changes what the customer's assignment reads: a windowed feature leaving its window, or its
    /// recency reaching the cut point that changes its named RFM segment under its model. The shard's sweep looks at the
    /// customer then. (After a retrain the rollout asks every customer the new cut points move, and their new rows carry
    /// crossings under the new model.)
    /// </summary>
    private DateTime? NextChangeByTime(DateTime asOf)
    {
        var window = _profile.NextWindowChange(asOf);
        var model = services.Models.Find(state.State.ModelVersion);
        var rfm = model is null ? null : RfmRules.NextSegmentChange(model.Rfm, _profile.ComputeRfm(asOf), _profile.LastPurchaseAt);
        return rfm is { } r && (window is null || r < window) ? r : window;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Customer {CustomerId}: model {Version} is not archived; assigned under the current model")]
    private static partial void LogModelMissing(ILogger logger, string customerId, long version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Customer {CustomerId}: writing its moves by silence to the transition log failed; checkpointing them instead")]
    private static partial void LogMovesNotWritten(ILogger logger, Exception exception, string customerId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Customer {CustomerId}: logged move {Number} does not follow on from the replay (at transition {Count}); it and later logged moves are not re-applied")]
    private static partial void LogMoveNotRestored(ILogger logger, string customerId, long number, long count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Customer {CustomerId} replayed {Applied} logged events up to {LogPosition}")]
    private static partial void LogReplayed(ILogger logger, string customerId, int applied, long logPosition);
}
