using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Inference.Engine.Tests;

/// <summary>Listens to the engine's meter and keeps one model's measurements, so that parallel tests do not mix.</summary>
internal sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)> _measurements = new();

    public MetricsRecorder(string modelId)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == InferenceMetrics.MeterName)
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags, modelId));
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags, modelId));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags, modelId));
        _listener.Start();
    }

    public IReadOnlyList<double> Values(string instrument) =>
        [.. _measurements.Where(measurement => measurement.Instrument == instrument).Select(measurement => measurement.Value)];

    public IReadOnlyList<Dictionary<string, object?>> Tags(string instrument) =>
        [.. _measurements.Where(measurement => measurement.Instrument == instrument).Select(measurement => measurement.Tags)];

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags, string modelId)
    {
        var copy = new Dictionary<string, object?>();
        foreach (var tag in tags)
            copy[tag.Key] = tag.Value;
        if (copy.TryGetValue("model", out var model) && Equals(model, modelId))
            _measurements.Enqueue((instrument.Name, value, copy));
    }
}
