namespace Engine.Core;

/// <summary>What a customer did. Values match <c>engine.v1.EventType</c>.</summary>
public enum EventKind
{
    Unspecified = 0,
    Purchase = 1,
    Refund = 2,
    Session = 3,
    PageView = 4,
    CartAdd = 5,
    CartAbandon = 6,
    SupportTicket = 7,
    Signup = 8,
}
