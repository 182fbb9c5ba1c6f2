using System.Text;
using Inference.Contracts;
using Inference.Orchestration.Protocol;
using Inference.Server.Persistence;
using Inference.Server.Results;
using MassTransit;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Persistence;

/// <summary>PostgreSQL, whose text and jsonb cannot hold U+0000.</summary>
public sealed class When_generated_text_is_stored_in_PostgreSQL(PostgresSagaDatabase database) : ResultText_Specs<PostgresSagaDatabase>(database);

/// <summary>SQLite, the embedded mode's store.</summary>
public sealed class When_generated_text_is_stored_in_SQLite(SqliteSagaDatabase database) : ResultText_Specs<SqliteSagaDatabase>(database);

/// <summary>
/// A generation's text, which may hold any character, is stored by the result store's own consumer and read back
/// exactly, with its finish reason; an embedding is stored as before.
/// </summary>
public abstract class ResultText_Specs<TDatabase>(TDatabase database) : IClassFixture<TDatabase>
    where TDatabase : SagaDatabase
{
    [Fact]
    public async Task Should_read_back_every_character_exactly_U0000_included()
    {
        var text = EveryCharacter();

        var stored = await StoreAsync(new InferenceOutput { Text = text, FinishReason = "length" });

        Assert.Equal(text.Length, stored.Text!.Length);
        Assert.True(text == stored.Text, "The text read back differs from the text stored.");
        Assert.Equal("length", stored.FinishReason);
        Assert.Null(stored.Embeddings);
    }

    [Fact]
    public async Task Should_keep_an_empty_text_apart_from_an_embedding()
    {
        var empty = await StoreAsync(new InferenceOutput { Text = "", FinishReason = "stop" });
        var embedding = await StoreAsync(new InferenceOutput { Embeddings = [[1f, 2f], [3f, 4f]] });

        Assert.Equal(("", "stop"), (empty.Text, empty.FinishReason));
        Assert.Equal([[1f, 2f], [3f, 4f]], embedding.Embeddings!);
        Assert.Null(embedding.Text);
    }

    /// <summary>Every scalar value: the BMP without the surrogates, and every plane's first and last characters.</summary>
    private static string EveryCharacter()
    {
        var builder = new StringBuilder();
        for (var c = 0; c <= 0xFFFF; c++)
        {
            if (c is < 0xD800 or > 0xDFFF)
                builder.Append((char)c);
        }

        for (var plane = 1; plane <= 16; plane++)
            builder.Append(char.ConvertFromUtf32(plane << 16)).Append(char.ConvertFromUtf32((plane << 16) | 0xFFFD));
        return builder.Append('\0').ToString();
    }

    /// <summary>Stores <paramref name="output"/> through <see cref="StoreResultConsumer"/> and reads it back as a request's GET does.</summary>
    private async Task<InferenceOutput> StoreAsync(InferenceOutput output)
    {
        var services = new ServiceCollection();
        database.AddTo(services);
        services.AddSingleton(TimeProvider.System);
        services.AddMassTransitTestHarness(bus => bus.AddConsumer<StoreResultConsumer>());
        await using var provider = services.BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        var id = NewId.NextGuid();

        await harness.Bus.Publish(new StoreResult { InferenceId = id, Output = output });

        Assert.True(await harness.Published.Any<ResultStored>(x => x.Context.Message.InferenceId == id));
        await using var scope = provider.CreateAsyncScope();
        var result = await scope.ServiceProvider.GetRequiredService<InferenceDbContext>().Results.AsNoTracking().SingleAsync(x => x.InferenceId == id);
        return ResultText.Output(result);
    }
}
