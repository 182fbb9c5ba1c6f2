namespace Inference.Server.Webhooks;

/// <summary>What a webhook URL must look like before its destination is even considered.</summary>
public static class WebhookUrlRules
{
    /// <summary>The longest URL accepted (and stored).</summary>
    public const int MaxLength = 2048;

    /// <summary>Parses an absolute <c>http</c> or <c>https</c> URL with a host; null and a reason otherwise.</summary>
    public static Uri? Parse(string? value, out string? reason)
    {
        reason = null;
        if (string.IsNullOrEmpty(value))
        {
            reason = "'webhook' must be an absolute http or https URL.";
            return null;
        }

        if (value.Length > MaxLength)
        {
            reason = $"'webhook' is longer than {MaxLength} characters.";
            return null;
        }

        // Control characters, white space and unpaired surrogates have no place in a URL a client means; Uri would
        // otherwise escape some of them into a different URL than the one given.
        foreach (var c in value)
        {
            if (char.IsControl(c) || char.IsWhiteSpace(c) || char.IsSurrogate(c))
            {
                reason = "'webhook' holds characters a URL cannot hold; percent-encode them.";
                return null;
            }
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host))
        {
            reason = "'webhook' must be an absolute http or https URL.";
            return null;
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            reason = "'webhook' must not carry credentials; authenticate deliveries by their signature.";
            return null;
        }

        return uri;
    }
}
