using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Engine.TestKit;

/// <summary>Asserts that a response carries no NaN or infinity anywhere, in nested messages, lists and maps alike.</summary>
public static class FiniteResponses
{
    public static T Assert<T>(T message) where T : IMessage
    {
        Check(message, message.Descriptor.Name);
        return message;
    }

    private static void Check(IMessage message, string path)
    {
        foreach (var field in message.Descriptor.Fields.InFieldNumberOrder())
        {
            var value = field.Accessor.GetValue(message);
            var at = $"{path}.{field.Name}";
            if (field.IsMap)
            {
                foreach (System.Collections.DictionaryEntry entry in (System.Collections.IDictionary)value)
                {
                    CheckValue(entry.Value, $"{at}[{entry.Key}]");
                }
            }
            else if (field.IsRepeated)
            {
                var i = 0;
                foreach (var item in (System.Collections.IEnumerable)value)
                {
                    CheckValue(item, $"{at}[{i++}]");
                }
            }
            else if (field.FieldType != FieldType.Message || value is not null)
            {
                CheckValue(value, at);
            }
        }
    }

    private static void CheckValue(object? value, string path)
    {
        switch (value)
        {
            case double d:
                Xunit.Assert.True(double.IsFinite(d), $"{path} is {d}");
                break;
            case float f:
                Xunit.Assert.True(float.IsFinite(f), $"{path} is {f}");
                break;
            case IMessage m:
                Check(m, path);
                break;
        }
    }
}
