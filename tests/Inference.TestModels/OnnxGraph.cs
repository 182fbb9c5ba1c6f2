using System.Runtime.InteropServices;
using Google.Protobuf;

namespace Inference.TestModels;

/// <summary>
/// Writes the few ONNX protobuf messages a small graph needs (onnx.proto field numbers), so that test models are
/// built by code rather than committed as binaries and no Python toolchain is needed.
/// </summary>
internal sealed class OnnxGraph
{
    // onnx.proto TensorProto.DataType.
    public const int FloatType = 1;
    public const int Int64Type = 7;

    private readonly List<byte[]> _nodes = [];
    private readonly List<byte[]> _initializers = [];
    private readonly List<byte[]> _inputs = [];
    private readonly List<byte[]> _outputs = [];
    private int _names;

    /// <summary>Declares a graph input; a dimension is a <see cref="long"/> (fixed) or a <see cref="string"/> (symbolic).</summary>
    public string Input(string name, int elementType, params object[] dimensions)
    {
        _inputs.Add(ValueInfo(name, elementType, dimensions));
        return name;
    }

    public void Output(string name, int elementType, params object[] dimensions) =>
        _outputs.Add(ValueInfo(name, elementType, dimensions));

    /// <summary>Adds a node with one output and returns that output's name (<paramref name="output"/> or a fresh one).</summary>
    public string Node(string opType, string[] inputs, string? output = null, params Attr[] attributes)
    {
        output ??= $"t{_names++}";
        _nodes.Add(Message(o =>
        {
            foreach (var input in inputs)
            {
                String(o, 1, input);
            }

            String(o, 2, output);
            String(o, 3, $"n{_nodes.Count}_{opType}");
            String(o, 4, opType);
            foreach (var attribute in attributes)
            {
                Bytes(o, 5, attribute.Encode());
            }
        }));
        return output;
    }

    public string Int64s(params long[] values) => Initializer(Int64Type, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    public string Int64Scalar(long value) => Initializer(Int64Type, [], BitConverter.GetBytes(value));

    public string FloatScalar(float value) => Initializer(FloatType, [], BitConverter.GetBytes(value));

    /// <summary>The model file: IR version 8, default-domain opset 17, with <paramref name="metadata"/> as metadata_props.</summary>
    public byte[] ToModel(IReadOnlyDictionary<string, string> metadata)
    {
        var graph = Message(o =>
        {
            foreach (var node in _nodes)
            {
                Bytes(o, 1, node);
            }

            String(o, 2, "test_decoder");
            foreach (var initializer in _initializers)
            {
                Bytes(o, 5, initializer);
            }

            foreach (var input in _inputs)
            {
                Bytes(o, 11, input);
            }

            foreach (var output in _outputs)
            {
                Bytes(o, 12, output);
            }
        });
        return Message(o =>
        {
            Int(o, 1, 8);
            String(o, 2, "Inference.TestModels");
            Bytes(o, 7, graph);
            Bytes(o, 8, Message(opset =>
            {
                String(opset, 1, string.Empty);
                Int(opset, 2, 17);
            }));
            foreach (var (key, value) in metadata)
            {
                Bytes(o, 14, Message(entry =>
                {
                    String(entry, 1, key);
                    String(entry, 2, value);
                }));
            }
        });
    }

    private string Initializer(int dataType, long[] dimensions, byte[] raw)
    {
        var name = $"c{_names++}";
        _initializers.Add(Tensor(name, dataType, dimensions, raw));
        return name;
    }

    internal static byte[] Tensor(string? name, int dataType, long[] dimensions, byte[] raw) => Message(o =>
    {
        foreach (var dimension in dimensions)
        {
            Int(o, 1, dimension);
        }

        Int(o, 2, dataType);
        if (name is not null)
        {
            String(o, 8, name);
        }

        o.WriteTag(9, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(ByteString.CopyFrom(raw));
    });

    private static byte[] ValueInfo(string name, int elementType, object[] dimensions) => Message(o =>
    {
        String(o, 1, name);
        Bytes(o, 2, Message(type => Bytes(type, 1, Message(tensor =>
        {
            Int(tensor, 1, elementType);
            Bytes(tensor, 2, Message(shape =>
            {
                foreach (var dimension in dimensions)
                {
                    Bytes(shape, 1, Message(dim =>
                    {
                        switch (dimension)
                        {
                            case string symbol:
                                String(dim, 2, symbol);
                                break;
                            default:
                                Int(dim, 1, Convert.ToInt64(dimension, System.Globalization.CultureInfo.InvariantCulture));
                                break;
                        }
                    }));
                }
            }));
        }))));
    });

    internal static byte[] Message(Action<CodedOutputStream> write)
    {
        using var stream = new MemoryStream();
        using (var output = new CodedOutputStream(stream, leaveOpen: true))
        {
            write(output);
            output.Flush();
        }

        return stream.ToArray();
    }

    internal static void Bytes(CodedOutputStream output, int field, byte[] value)
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(value));
    }

    internal static void String(CodedOutputStream output, int field, string value)
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteString(value);
    }

    internal static void Int(CodedOutputStream output, int field, long value)
    {
        output.WriteTag(field, WireFormat.WireType.Varint);
        output.WriteInt64(value);
    }

    /// <summary>A node attribute (onnx.proto AttributeProto): an int, a float, a list of ints or a tensor.</summary>
    internal sealed record Attr(string Name, long? Int = null, float? Float = null, long[]? Ints = null, byte[]? Tensor = null)
    {
        public byte[] Encode() => Message(o =>
        {
            OnnxGraph.String(o, 1, Name);
            if (Float is { } f)
            {
                o.WriteTag(2, WireFormat.WireType.Fixed32);
                o.WriteFloat(f);
                OnnxGraph.Int(o, 20, 1);
            }
            else if (Int is { } i)
            {
                OnnxGraph.Int(o, 3, i);
                OnnxGraph.Int(o, 20, 2);
            }
            else if (Tensor is { } t)
            {
                Bytes(o, 5, t);
                OnnxGraph.Int(o, 20, 4);
            }
            else if (Ints is { } ints)
            {
                foreach (var value in ints)
                {
                    OnnxGraph.Int(o, 8, value);
                }

                OnnxGraph.Int(o, 20, 7);
            }
        });
    }
}
