using System.Security.Cryptography;
using System.Text;

namespace Inference.Server.Tenants;

/// <summary>API keys are random 256-bit secrets, so one unsalted SHA-256 is enough to make a stolen table useless.</summary>
public static class ApiKeyHash
{
    public static string Of(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>A new key: a recognisable prefix and 32 random bytes, URL-safe.</summary>
    public static string NewKey() =>
        "sk_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
