using Google.Protobuf;

namespace Engine.Server.Security;

/// <summary>
/// A request as the audit log keeps it: its JSON with the <see cref="Roles.Redacted"/> fields removed (a webhook's
/// secret and headers, customer ids) and a URL cut to its origin (a Slack or Braze URL carries its token in the path).
/// </summary>
public static class AuditDetails
{
    public static string Of(IMessage? request)
    {
        if (request is null)
        {
            return "";
        }
        var copy = request.Descriptor.Parser.ParseFrom(request.ToByteString());
        foreach (var field in copy.Descriptor.Fields.InFieldNumberOrder())
        {
            if (Roles.Redacted.Contains(field.Name))
            {
                field.Accessor.Clear(copy);
            }
            else if (field.Name == "url" && field.Accessor.GetValue(copy) is string url)
            {
                field.Accessor.SetValue(copy, Uri.TryCreate(url, UriKind.Absolute, out var uri) ? $"{uri.Scheme}://{uri.Host}:{uri.Port}" : "");
            }
        }
        return JsonFormatter.Default.Format(copy);
    }
}
