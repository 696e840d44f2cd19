namespace Engine.Core;

/// <summary>
/// The rules that decide under which model a customer's events are assigned, which moves are a retrain's and which
/// its events', and how a move is dated. Pure: the customer grain loads, decides with these and persists, and a replay
/// after a crash takes the same steps because every input comes from the ingest log or the customer's checkpoint.
/// </summary>
public static class AssignmentRules
{
    /// <summary>The model stamp of an event logged before events carried one.</summary>
    public const long Unstamped = -1;

    /// <summary>The model an event was logged under; one logged before events carried it counts as logged under the current model.</summary>
    public static long StampOf(long loggedModel, long currentModel) => loggedModel != Unstamped ? loggedModel : currentModel;

    /// <summary>
    /// The model a batch stamped <paramref name="stamp"/> is assigned under: the newer of it and the customer's own (a
    /// retrain may reach the customer before a batch its silo had stamped earlier). An assignment never goes back.
    /// </summary>
    public static long ModelFor(long stamp, long customerModel) => Math.Max(stamp, customerModel);

    /// <summary>
    /// Whether a batch first adopts a newer model: the customer, as it stood before the batch, is assigned under the
    /// batch's model as a RETRAIN move, and the batch's events then move it only as far as they do (an EVENT move). A
    /// customer with no events yet has nothing to assign.
    /// </summary>
    public static bool AdoptsNewerModel(long batchModel, long customerModel, bool hasEvents) => hasEvents && batchModel > customerModel;

    /// <summary>
    /// The customer's assignment time after an assignment at <paramref name="at"/>. A move is always later than the
    /// assignment before it (shards order a customer's rows by log position, then by this time): one at or before the
    /// last goes one tick after it. An event's move may share the time of the adoption just before it in the same batch
    /// (its row has a later log position already; a tick more would be a tick of recency in its row). An assignment that
    /// moves no one keeps the later of the two times.
    /// </summary>
    public static DateTime AssignedAt(DateTime at, DateTime lastAssignedAt, bool moves, bool byEvent)
    {
        var later = at > lastAssignedAt || (byEvent && at == lastAssignedAt);
        return later ? at : moves && lastAssignedAt > DateTime.MinValue ? lastAssignedAt.AddTicks(1) : lastAssignedAt;
    }

    /// <summary>
    /// When a retrain's rollout or a sweep that no event brings reassigns: the engine clock of the batches applied, but
    /// never before the customer's own latest assignment (it may hold a batch its silo has not marked applied yet).
    /// </summary>
    public static DateTime ReassignAt(DateTime appliedNow, DateTime lastAssignedAt) => appliedNow > lastAssignedAt ? appliedNow : lastAssignedAt;
}
