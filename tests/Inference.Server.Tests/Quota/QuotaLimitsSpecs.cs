using Inference.Server.Quota;

namespace Inference.Server.Tests.Quota;

public class QuotaLimitsSpecs
{
    [Theory]
    [InlineData(-1, 0)]
    [InlineData(0, -1)]
    public void Negative_limits_are_refused_rather_than_guessed(long tokensPerMinute, long tokensPerDay) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new QuotaLimits(tokensPerMinute, tokensPerDay));

    [Fact]
    public void Limit_codes_are_the_stable_snake_case_names_clients_see()
    {
        Assert.Equal("tokens_per_minute", QuotaLimitKind.TokensPerMinute.ToCode());
        Assert.Equal("tokens_per_day", QuotaLimitKind.TokensPerDay.ToCode());
    }

    [Fact]
    public void A_negative_reservation_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new QuotaReservation("tenant", Guid.NewGuid(), -1));
}
