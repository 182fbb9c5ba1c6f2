using System.Collections.Concurrent;

namespace Inference.Testing;

/// <summary>The tenants and models the harness knows: one per harness, shared by its options, its facade and its stand-ins.</summary>
internal sealed class InferenceScript
{
    private readonly ConcurrentDictionary<string, ScriptedTenant> _tenants = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ScriptedModel> _models = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Guid, bool> _admitted = new();

    /// <summary>Every request the gate let in: the requests the saga may hold.</summary>
    public ICollection<Guid> Admitted => _admitted.Keys;

    public ScriptedTenant Tenant(string id)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        return _tenants.GetOrAdd(id, static id => new ScriptedTenant(id));
    }

    /// <summary>Raised once for each model id the script learns, so that the scripted worker listens on its queue.</summary>
    public event Action<string>? ModelAdded;

    /// <summary>Every model id the script has known, removed ones included: their queues stay served.</summary>
    public IEnumerable<string> ModelIds => _models.Keys;

    public ScriptedModel Model(string id)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        if (_models.TryGetValue(id, out var known))
            return known;
        var added = _models.GetOrAdd(id, static id => new ScriptedModel(id));
        ModelAdded?.Invoke(id);
        return added;
    }

    public ScriptedTenant? FindTenant(string? id) => id is not null && _tenants.TryGetValue(id, out var tenant) ? tenant : null;

    public ScriptedModel? FindModel(string? id) => id is not null && _models.TryGetValue(id, out var model) ? model : null;

    public void Admit(Guid inferenceId) => _admitted[inferenceId] = true;

    public bool RemoveTenant(string id) => _tenants.TryRemove(id, out _);

    public bool RemoveModel(string id) => _models.TryRemove(id, out _);
}
