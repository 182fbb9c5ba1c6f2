namespace Inference.Server.Persistence.Sagas;

/// <summary>A saga whose <see cref="Version"/> is a concurrency token, bumped by the repository on every update.</summary>
public interface IVersionedSaga
{
    int Version { get; set; }
}
