using System.Text.Json;
using System.Text.Json.Serialization;
using Inference.Orchestration;

namespace Inference.Server.Api;

/// <summary>
/// A request's <c>metadata</c> on the wire (<see cref="MetadataRules"/>). The keys are the client's own: written exactly
/// as they were sent, never through the API's snake_case naming of dictionary keys.
/// </summary>
internal static class InferenceMetadata
{
    /// <summary>The accepted entries as stored, in the order sent; null when the request had none.</summary>
    public static Dictionary<string, string>? From(IReadOnlyList<KeyValuePair<string, string>>? entries) =>
        entries is null ? null : new Dictionary<string, string>(entries, StringComparer.Ordinal);

    /// <summary>Reads and writes the metadata as a JSON object of strings, keys verbatim.</summary>
    public sealed class Converter : JsonConverter<IReadOnlyDictionary<string, string>>
    {
        public override IReadOnlyDictionary<string, string>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
                throw new JsonException();

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var key = reader.GetString()!;
                if (!reader.Read() || reader.TokenType != JsonTokenType.String)
                    throw new JsonException();
                metadata[key] = reader.GetString()!;
            }

            return metadata;
        }

        public override void Write(Utf8JsonWriter writer, IReadOnlyDictionary<string, string> value, JsonSerializerOptions options)
        {
            ArgumentNullException.ThrowIfNull(writer);
            ArgumentNullException.ThrowIfNull(value);
            writer.WriteStartObject();
            foreach (var (key, text) in value)
                writer.WriteString(key, text);
            writer.WriteEndObject();
        }
    }
}
