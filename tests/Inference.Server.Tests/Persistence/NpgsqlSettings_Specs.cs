using Inference.Server.Persistence;
using Npgsql;

namespace Inference.Server.Tests.Persistence;

/// <summary>The server skips Npgsql's reset of pooled connections, unless the operator's connection string decides.</summary>
public sealed class When_the_server_reads_a_PostgreSQL_connection_string
{
    [Fact]
    public void Should_skip_the_connection_reset_when_the_string_says_nothing_of_it()
    {
        var used = new NpgsqlConnectionStringBuilder(PersistenceExtensions.WithoutReset("Host=db;Username=u;Password=p;Database=d"));

        Assert.True(used.NoResetOnClose);
        Assert.Equal(("db", "d", "p"), (used.Host, used.Database, used.Password));
    }

    [Theory]
    [InlineData("Host=db;Username=u;No Reset On Close=false")]
    [InlineData("Host=db;Username=u;noresetonclose=false")]
    public void Should_keep_what_the_operator_chose(string given)
    {
        Assert.Equal(given, PersistenceExtensions.WithoutReset(given));
        Assert.False(new NpgsqlConnectionStringBuilder(PersistenceExtensions.WithoutReset(given)).NoResetOnClose);
    }
}
