using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Inference.Orchestration;

namespace Inference.Server.Api;

/// <summary>
/// Reads JSON strings as they were sent, unpaired surrogates included. System.Text.Json will not make a string of an
/// escape such as <c>"\ud800"</c> and throws instead, which turned one bad character into a 500 or into
/// <c>invalid_json</c> for the whole body. Read whole, the text reaches <see cref="InputText"/>, which names the field,
/// the character and where it is.
/// </summary>
internal static class FaithfulJsonString
{
    /// <summary>The text of a string element.</summary>
    public static string Read(JsonElement element)
    {
        try
        {
            return element.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // The raw value is the JSON string with its quotes.
            return Unescape(JsonMarshal.GetRawUtf8Value(element)[1..^1]);
        }
    }

    /// <summary>The text of a property's name, as <see cref="Read"/> reads a string.</summary>
    public static string ReadName(JsonProperty property)
    {
        try
        {
            return property.Name;
        }
        catch (InvalidOperationException)
        {
            return Unescape(JsonMarshal.GetRawUtf8PropertyName(property));
        }
    }

    /// <summary>
    /// The text of the escaped UTF-8 content of a JSON string (without quotes), each <c>\uXXXX</c> kept as the UTF-16
    /// code unit it names, paired or not. Only for content the JSON reader has accepted, and whose bytes are UTF-8.
    /// </summary>
    public static string Unescape(ReadOnlySpan<byte> escaped)
    {
        var text = new StringBuilder(escaped.Length);
        while (true)
        {
            var backslash = escaped.IndexOf((byte)'\\');
            text.Append(Encoding.UTF8.GetString(backslash < 0 ? escaped : escaped[..backslash]));
            if (backslash < 0)
                return text.ToString();

            var kind = (char)escaped[backslash + 1];
            if (kind == 'u')
            {
                text.Append((char)ushort.Parse(escaped.Slice(backslash + 2, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));
                escaped = escaped[(backslash + 6)..];
            }
            else
            {
                text.Append(kind switch { 'b' => '\b', 'f' => '\f', 'n' => '\n', 'r' => '\r', 't' => '\t', _ => kind });
                escaped = escaped[(backslash + 2)..];
            }
        }
    }

    /// <summary>Binds a string property through <see cref="Unescape"/> when the serializer's own reading fails.</summary>
    public sealed class Converter : JsonConverter<string>
    {
        public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            // Thrown without a message, the serializer words it with the path, as for any value of the wrong type.
            if (reader.TokenType != JsonTokenType.String)
                throw new JsonException();

            try
            {
                return reader.GetString();
            }
            catch (InvalidOperationException)
            {
                return Unescape(reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan);
            }
        }

        public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options)
        {
            ArgumentNullException.ThrowIfNull(writer);
            writer.WriteStringValue(value);
        }
    }
}
