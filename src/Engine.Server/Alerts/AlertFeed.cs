using System.Globalization;
using System.Runtime.CompilerServices;
using Engine.Abstractions;
using Engine.Api.V1;
using Engine.Core;
using Engine.Grains;
using Engine.Server.Grpc;
using Engine.Storage;
using Grpc.Core;

namespace Engine.Server.Alerts;

/// <summary>
/// Reads the alert log (the transition log) from a cursor: the backlog first, then live, in cursor order, forever.
/// A subscriber or webhook that restarts from its last cursor sees nothing twice and misses nothing. With a minimum
/// dwell an alert waits until the customer has stayed that long (engine clock) and is dropped if it moved on sooner.
/// </summary>
public sealed class AlertFeed(ITransitionLog log, TransitionSignal signal, IGrainFactory grains, EngineClock clock)
{
    private const int PageSize = 500;
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(250);

    public static long ParseCursor(string cursor, string field) =>
        cursor.Length == 0 ? 0
        : long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var c) ? c
        : throw new RpcException(new Status(StatusCode.InvalidArgument, $"{field}: '{cursor}' is not a cursor"));

    public static AlertFilter Validate(AlertFilter filter)
    {
        if (filter.MinDwell is { } dwell && dwell.ToTimeSpan() < TimeSpan.Zero)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "min_dwell: must not be negative"));
        }
        if (filter.Causes.Any(c => c == Cause.Unspecified || !Enum.IsDefined(c)))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "causes: must be EVENT, INACTIVITY or RETRAIN"));
        }
        Mapping.CheckKinds(filter.Kinds, "kinds");
        return filter;
    }

    public async IAsyncEnumerable<MigrationAlert> ReadAsync(long after, AlertFilter filter, [EnumeratorCancellation] CancellationToken ct)
    {
        var match = new TransitionFilter(filter.FromSegmentIds.Select(Unassigned.Normalize).ToHashSet(StringComparer.OrdinalIgnoreCase),
            filter.ToSegmentIds.ToHashSet(StringComparer.OrdinalIgnoreCase),
            filter.Causes.Select(c => (TransitionCause)(int)c).ToHashSet(), SegmentKinds.Requested(filter.Kinds.Select(Mapping.ToKind)));
        var dwell = filter.MinDwell?.ToTimeSpan() ?? TimeSpan.Zero;
        var cursor = after;
        while (!ct.IsCancellationRequested)
        {
            // Taken before the read: a commit between the read and the wait still wakes us.
            var wake = signal.Next;
            var page = await log.ReadTransitionsAsync(cursor, PageSize, match, ct);
            foreach (var item in page.Items)
            {
                if (dwell > TimeSpan.Zero && !await StayedAsync(item, dwell, ct))
                {
                    continue;
                }
                yield return await ToAlertAsync(item);
            }
            if (page.LastScanned == cursor)
            {
                await Task.WhenAny(wake, Task.Delay(Poll, ct));
                ct.ThrowIfCancellationRequested();
            }
            cursor = page.LastScanned;
        }
    }

    private async Task<bool> StayedAsync(LoggedTransition item, TimeSpan dwell, CancellationToken ct)
    {
        var until = item.Transition.At + dwell;
        while (clock.Now < until)
        {
            await Task.WhenAny(signal.Next, Task.Delay(Poll, ct));
            ct.ThrowIfCancellationRequested();
        }
        return !await log.MovedAgainAsync(item.Transition.CustomerId, item.Transition.Number, until, item.Transition.Kind, ct);
    }

    private async Task<MigrationAlert> ToAlertAsync(LoggedTransition item)
    {
        var alert = new MigrationAlert
        {
            Cursor = item.Cursor.ToString(CultureInfo.InvariantCulture),
            CustomerId = item.Transition.CustomerId,
            Transition = item.Transition.ToProto(),
        };
        if (await grains.GetGrain<ICustomerGrain>(item.Transition.CustomerId).GetAsync() is { } view)
        {
            alert.Customer = view.ToProto();
        }
        return alert;
    }
}
