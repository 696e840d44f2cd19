namespace Engine.Core;

/// <summary>
/// "No segment", one value everywhere (see docs/glossary.md): a customer's segment while no model exists, and the
/// segment a transition comes from when it is the customer's first assignment.
/// </summary>
public static class Unassigned
{
    public const string SegmentId = "unassigned";

    /// <summary>
    /// The stored spelling of a segment a transition came from: transitions written before 0.2.0 (and alert filters
    /// from clients of that time) say <c>""</c> for a first assignment.
    /// </summary>
    public static string Normalize(string segmentId) => segmentId.Length == 0 ? SegmentId : segmentId;
}
