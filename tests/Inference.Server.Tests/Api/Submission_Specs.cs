using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Inference.Server.Quota;
using Inference.Server.Tenants;
using Inference.Server.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Inference.Server.Tests.Api;

public sealed class When_an_embedding_request_is_submitted(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    private readonly HttpClient _client = app.CreateDevClient();

    [Fact]
    public async Task Should_answer_202_with_where_to_read_it_and_the_prompt_tokens_it_reserved()
    {
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        using var response = await _client.SubmitAsync(new[] { "A man is playing a guitar.", "hello world" });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = Guid.Parse(accepted.GetProperty("id").GetString()!);
        var get = accepted.GetProperty("urls").GetProperty("get").GetString();
        Assert.Equal($"/v1/inferences/{id}", get);
        Assert.Equal(get, response.Headers.Location?.OriginalString);
        Assert.Equal(InferencesClient.Model, accepted.GetProperty("model").GetString());
        // [CLS] a man is playing a guitar . [SEP] and [CLS] hello world [SEP]: exact tokenizer counts, not estimates.
        Assert.Equal(9 + 4, accepted.GetProperty("usage").GetProperty("reserved_tokens").GetInt64());
        var createdAt = accepted.GetProperty("created_at").GetDateTimeOffset();
        Assert.InRange(createdAt, before, DateTimeOffset.UtcNow.AddSeconds(1));
    }

    [Fact]
    public async Task Should_say_quota_reserved_when_the_quota_was_decided_within_the_wait()
    {
        var accepted = await _client.SubmitAcceptedAsync("hello world");

        Assert.Equal("quota_reserved", accepted.GetProperty("status").GetString());
    }
}

public sealed class When_an_embedding_request_completes(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    private const string Guitar = "A man is playing a guitar.";
    private const string GuitarParaphrase = "Someone plays the guitar.";
    private const string Unrelated = "The stock market fell sharply today.";

    private readonly HttpClient _client = app.CreateDevClient();

    [Fact]
    public async Task Should_return_one_unit_length_384_dimensional_embedding_per_input()
    {
        var inference = await _client.CompleteAsync(new[] { Guitar, Unrelated, GuitarParaphrase });

        var embeddings = inference.Embeddings();
        Assert.Equal(3, embeddings.Length);
        Assert.All(embeddings, vector =>
        {
            Assert.Equal(384, vector.Length);
            Assert.InRange(Norm(vector), 1 - 1e-3, 1 + 1e-3);
        });
    }

    [Fact]
    public async Task Should_return_the_embeddings_in_the_order_of_the_inputs()
    {
        string[] inputs = [Guitar, Unrelated, GuitarParaphrase];
        var batch = await _client.SubmitAcceptedAsync(inputs);
        var singles = new List<JsonElement>();
        foreach (var input in inputs)
            singles.Add(await _client.SubmitAcceptedAsync(new[] { input }));

        var batched = (await _client.WaitUntilFinishedAsync(batch.GetProperty("id").GetString()!)).Embeddings();
        for (var i = 0; i < inputs.Length; i++)
        {
            var alone = (await _client.WaitUntilFinishedAsync(singles[i].GetProperty("id").GetString()!)).Embeddings().Single();
            // Padding in a batch moves the numbers only in their last digits; another input's vector is far away.
            Assert.True(Cosine(batched[i], alone) > 0.999, $"Embedding {i} of the batch is not the embedding of '{inputs[i]}'.");
        }
    }

    [Fact]
    public async Task Should_place_paraphrases_closer_than_an_unrelated_sentence()
    {
        var embeddings = (await _client.CompleteAsync(new[] { Guitar, GuitarParaphrase, Unrelated })).Embeddings();

        var paraphrases = Cosine(embeddings[0], embeddings[1]);
        Assert.True(paraphrases > Cosine(embeddings[0], embeddings[2]) + 0.2,
            $"Paraphrases at {paraphrases}, unrelated at {Cosine(embeddings[0], embeddings[2])}.");
        Assert.True(paraphrases > Cosine(embeddings[1], embeddings[2]) + 0.2,
            $"Paraphrases at {paraphrases}, unrelated at {Cosine(embeddings[1], embeddings[2])}.");
    }

    [Fact]
    public async Task Should_report_the_reserved_prompt_tokens_as_its_usage()
    {
        var accepted = await _client.SubmitAcceptedAsync(new[] { Guitar, "hello world" });

        var inference = await _client.WaitUntilFinishedAsync(accepted.GetProperty("id").GetString()!);

        var usage = inference.GetProperty("usage");
        var reserved = accepted.GetProperty("usage").GetProperty("reserved_tokens").GetInt32();
        Assert.Equal(13, reserved);
        Assert.Equal(reserved, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(0, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(reserved, usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Should_record_each_status_it_went_through_in_order()
    {
        var accepted = await _client.SubmitAcceptedAsync(Guitar);

        var inference = await _client.WaitUntilFinishedAsync(accepted.GetProperty("id").GetString()!);

        var history = inference.GetProperty("history").EnumerateArray().ToList();
        Assert.Equal(["submitted", "quota_reserved", "inferring", "completed"], history.Select(h => h.GetProperty("status").GetString()));
        var times = history.Select(h => h.GetProperty("at").GetDateTimeOffset()).Prepend(accepted.GetProperty("created_at").GetDateTimeOffset()).ToList();
        Assert.Equal(times.Order(), times);
    }

    [Fact]
    public async Task Should_show_when_it_was_created_and_no_error()
    {
        var accepted = await _client.SubmitAcceptedAsync(Guitar);

        var inference = await _client.WaitUntilFinishedAsync(accepted.GetProperty("id").GetString()!);

        Assert.Equal(accepted.GetProperty("id").GetString(), inference.GetProperty("id").GetString());
        Assert.Equal(InferencesClient.Model, inference.GetProperty("model").GetString());
        var createdAt = inference.GetProperty("created_at").GetDateTimeOffset();
        Assert.Equal(accepted.GetProperty("created_at").GetDateTimeOffset(), createdAt);
        Assert.True(inference.GetProperty("updated_at").GetDateTimeOffset() >= createdAt);
        Assert.Equal(JsonValueKind.Null, inference.GetProperty("error").ValueKind);
    }

    [Fact]
    public async Task Should_treat_a_single_string_as_a_one_element_array()
    {
        var fromString = await _client.CompleteAsync(Guitar);
        var fromArray = await _client.CompleteAsync(new[] { Guitar });

        var single = Assert.Single(fromString.Embeddings());
        Assert.Equal(fromArray.Embeddings().Single(), single, (left, right) => Math.Abs(left - right) < 1e-5f);
        Assert.Equal(fromArray.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(),
            fromString.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task Should_accept_an_input_of_exactly_the_models_256_tokens()
    {
        // 254 words, each one token, plus [CLS] and [SEP].
        var longest = string.Join(' ', Enumerable.Repeat("word", 254));

        var inference = await _client.CompleteAsync(longest);

        Assert.Equal(256, inference.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(384, inference.Embeddings().Single().Length);
    }

    private static double Norm(float[] vector) => Math.Sqrt(vector.Sum(x => (double)x * x));

    private static double Cosine(float[] left, float[] right) =>
        left.Zip(right, (l, r) => (double)l * r).Sum() / (Norm(left) * Norm(right));
}

/// <summary>A fresh app of its own, so that the dev tenant's ledger holds this request's tokens and nothing else.</summary>
public sealed class When_a_completed_request_is_settled(EmbeddedApp app) : IClassFixture<EmbeddedApp>
{
    [Fact]
    public async Task Should_charge_the_tenant_the_tokens_the_request_used()
    {
        using var client = app.CreateDevClient();
        var ledger = app.Services.GetRequiredService<IQuotaLedger>();

        var inference = await client.CompleteAsync(new[] { "A man is playing a guitar.", "hello world" });

        var id = Guid.Parse(inference.GetProperty("id").GetString()!);
        var promptTokens = inference.GetProperty("usage").GetProperty("prompt_tokens").GetInt64();
        // The saga settles after it has marked the request completed, so the ledger may lag GET by a message.
        var reservation = await Poll.UntilAsync(() => ledger.GetReservationAsync(DevTenantSeeder.TenantId, id),
            record => record?.State == ReservationState.Settled, "the reservation to be settled");
        Assert.Equal(promptTokens, reservation!.ChargedTokens);
        Assert.Equal(promptTokens, (await ledger.GetUsageAsync(DevTenantSeeder.TenantId)).DayTokens.Total);
    }
}

public sealed class When_the_quota_decision_timeout_is_zero
{
    [Fact]
    public async Task Should_answer_at_once_with_a_stored_request_that_goes_on_to_complete()
    {
        await using var app = new InferenceAppFactory(new Dictionary<string, string?> { ["Api:QuotaDecisionTimeout"] = "00:00:00" });
        using var client = app.CreateDevClient();

        var accepted = await client.SubmitAcceptedAsync("hello world");
        var id = accepted.GetProperty("id").GetString()!;

        Assert.Equal("submitted", accepted.GetProperty("status").GetString());
        using (var read = await client.GetAsync($"/v1/inferences/{id}"))
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Equal("completed", (await client.WaitUntilFinishedAsync(id)).GetProperty("status").GetString());
    }
}
