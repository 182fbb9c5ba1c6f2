using Inference.Server.Quota;

namespace Inference.Server.Tests.Quota;

public class QuotaLimitKindSpecs
{
    [Theory]
    [InlineData(QuotaLimitKind.RequestsPerMinute, "rate_limit_requests")]
    [InlineData(QuotaLimitKind.TokensPerMinute, "rate_limit_tokens")]
    [InlineData(QuotaLimitKind.TokensPerDay, "quota_daily_tokens")]
    [InlineData(QuotaLimitKind.TokensPerMonth, "quota_monthly_tokens")]
    [InlineData(QuotaLimitKind.Concurrency, "concurrency_limit")]
    public void Limit_codes_are_the_stable_snake_case_names_clients_see(QuotaLimitKind kind, string code)
    {
        Assert.Equal(code, kind.ToCode());
        Assert.Equal(code, new QuotaRejection(kind, 1, 1, 1, TimeSpan.FromSeconds(1)).Code);
    }

    [Fact]
    public void Every_limit_kind_has_a_code() =>
        Assert.All(Enum.GetValues<QuotaLimitKind>(), kind => Assert.False(string.IsNullOrEmpty(kind.ToCode())));

    [Fact]
    public void A_rejection_without_a_retry_time_exceeds_the_limit_for_good()
    {
        Assert.True(new QuotaRejection(QuotaLimitKind.TokensPerDay, 10, 0, 11, null).ExceedsLimit);
        Assert.False(new QuotaRejection(QuotaLimitKind.Concurrency, 1, 1, 1, TimeSpan.FromSeconds(1)).ExceedsLimit);
    }

    [Fact]
    public void A_negative_reservation_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new QuotaReservation("tenant", Guid.NewGuid(), -1));
}
