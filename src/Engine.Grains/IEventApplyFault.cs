using Engine.Abstractions;

namespace Engine.Grains;

/// <summary>
/// A test seam: an event that a customer cannot apply, however it got into the log. Checked before each event is
/// applied; <see cref="Check"/> throws for such an event. Nothing registers one in the product; tests do, to show
/// quarantine, replay and discard end to end.
/// </summary>
public interface IEventApplyFault
{
    void Check(LoggedEvent e);
}
