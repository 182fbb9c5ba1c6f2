using System.Buffers.Binary;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Inference.Engine.Packaging;

/// <summary>
/// Reads resources embedded in a .NET assembly file straight from its PE image. The assembly is never loaded, so none
/// of its code runs and none of its dependencies need to exist.
/// </summary>
internal sealed class AssemblyResourceReader : IDisposable
{
    private readonly FileStream _file;
    private readonly Dictionary<string, long> _resourceOffsets;

    private AssemblyResourceReader(FileStream file, Guid moduleVersionId, Dictionary<string, long> resourceOffsets)
    {
        _file = file;
        ModuleVersionId = moduleVersionId;
        _resourceOffsets = resourceOffsets;
    }

    public string Path => _file.Name;

    /// <summary>Changes with every build of the assembly, so it identifies the resources it carries.</summary>
    public Guid ModuleVersionId { get; }

    public static AssemblyResourceReader Open(string assemblyPath)
    {
        var file = new FileStream(assemblyPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096, FileOptions.SequentialScan);
        try
        {
            using var peReader = new PEReader(file, PEStreamOptions.LeaveOpen);
            if (!peReader.HasMetadata || peReader.PEHeaders.CorHeader is not { } corHeader)
            {
                throw new InvalidDataException($"'{assemblyPath}' is not a .NET assembly.");
            }

            var metadata = peReader.GetMetadataReader();
            var moduleVersionId = metadata.GetGuid(metadata.GetModuleDefinition().Mvid);

            // Embedded resources sit back to back in one directory; each manifest entry gives its offset there.
            var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
            if (peReader.PEHeaders.TryGetDirectoryOffset(corHeader.ResourcesDirectory, out var directoryOffset))
            {
                foreach (var handle in metadata.ManifestResources)
                {
                    var resource = metadata.GetManifestResource(handle);
                    // A non-nil implementation points at another file or assembly: not embedded here.
                    if (resource.Implementation.IsNil)
                    {
                        offsets[metadata.GetString(resource.Name)] = directoryOffset + resource.Offset;
                    }
                }
            }

            return new AssemblyResourceReader(file, moduleVersionId, offsets);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The resource's length in bytes.</summary>
    public long GetLength(string resourceName)
    {
        var (_, length) = Locate(resourceName);
        return length;
    }

    public byte[] ReadAllBytes(string resourceName)
    {
        var (start, length) = Locate(resourceName);
        var bytes = new byte[length];
        _file.Position = start;
        _file.ReadExactly(bytes);
        return bytes;
    }

    public void CopyTo(string resourceName, Stream destination)
    {
        var (start, length) = Locate(resourceName);
        var buffer = new byte[1 << 20];
        _file.Position = start;
        for (var remaining = length; remaining > 0;)
        {
            var read = _file.Read(buffer, 0, (int)Math.Min(buffer.Length, remaining));
            if (read == 0)
            {
                throw new EndOfStreamException($"'{Path}' ends inside resource '{resourceName}'.");
            }

            destination.Write(buffer, 0, read);
            remaining -= read;
        }
    }

    public void Dispose() => _file.Dispose();

    private (long Start, long Length) Locate(string resourceName)
    {
        if (!_resourceOffsets.TryGetValue(resourceName, out var offset))
        {
            throw new InvalidDataException($"'{Path}' has no embedded resource '{resourceName}'.");
        }

        // Each resource is prefixed with its length as a little-endian 32-bit integer.
        Span<byte> prefix = stackalloc byte[sizeof(uint)];
        _file.Position = offset;
        _file.ReadExactly(prefix);
        long length = BinaryPrimitives.ReadUInt32LittleEndian(prefix);
        var start = offset + prefix.Length;
        if (start + length > _file.Length)
        {
            throw new InvalidDataException($"Resource '{resourceName}' runs past the end of '{Path}'.");
        }

        return (start, length);
    }
}
