namespace Inference.Server.Api.Admin;

/// <summary>Section <c>Admin</c>: the operators' API under <c>/admin</c>.</summary>
public sealed class AdminOptions
{
    public const string Section = "Admin";

    /// <summary>
    /// The bearer token of every <c>/admin</c> route. Unset (the default), the admin API is off and its routes answer
    /// 404. Keep it out of configuration files: set it from a secret (<c>Admin__Token</c>).
    /// </summary>
    public string? Token { get; set; }
}
