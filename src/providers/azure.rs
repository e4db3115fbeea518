//! Azure OpenAI (`azure/<deployment>`) and Azure AI Foundry (`azure_ai/<model>`):
//! the URL of each endpoint and the header their keys go in, as LiteLLM builds them.

use http::header::{HeaderName, AUTHORIZATION};
use http::Uri;

use super::{Endpoint, Provider, Wire};

/// Azure OpenAI: `api_base` is the resource (`https://NAME.openai.azure.com`).
pub const AZURE: Provider = Provider {
    name: "azure",
    default_base: None,
    wire: Wire::OpenAi,
};

/// Azure AI Foundry's model inference endpoint, OpenAI-compatible.
pub const AZURE_AI: Provider = Provider {
    name: "azure_ai",
    default_base: None,
    wire: Wire::OpenAi,
};

/// The `api-version` when neither the entry, its `api_base` nor
/// `AZURE_API_VERSION` gives one (LiteLLM's `AZURE_DEFAULT_API_VERSION`).
pub const DEFAULT_API_VERSION: &str = "2025-02-01-preview";

/// The `api-version` of Responses requests when none is configured: LiteLLM's
/// `AZURE_DEFAULT_RESPONSES_API_VERSION`, which puts them on the v1 scheme.
const DEFAULT_RESPONSES_API_VERSION: &str = "preview";

/// The key header of Azure OpenAI, and of Foundry's `services.ai.azure.com` hosts.
pub const API_KEY: HeaderName = HeaderName::from_static("api-key");

/// Environment variables LiteLLM reads for an `azure/` entry's key, in order.
pub const KEY_VARS: &[&str] = &["AZURE_OPENAI_API_KEY", "AZURE_API_KEY"];

/// Each endpoint's URL, by `Endpoint::index`, and the host.
pub type Urls = ([Uri; 6], String);

/// An `api_base` taken apart: the part before any `/openai` path, whether
/// it names the v1 scheme, and its query (`api-version` and the rest).
struct Base {
    /// `https://host[:port]`.
    origin: String,
    /// `origin` and the path before any `/openai`, without the query.
    root: String,
    host: String,
    /// The path held `/openai/v1`.
    v1: bool,
    /// `api-version` from the query (a portal URL carries one).
    api_version: Option<String>,
    /// The other query pairs, kept as written.
    rest: Vec<String>,
    /// The path after the root, for Foundry (which has no `/openai`).
    path: String,
}

fn parse_base(base: &str) -> Result<Base, String> {
    let base = base.trim();
    // The value is never echoed: it may have come from a secret reference.
    if base.contains('#') {
        return Err("must not carry a fragment".into());
    }
    let uri: Uri = base.parse().map_err(|_| "is not a URL".to_string())?;
    let scheme = match uri.scheme_str() {
        Some(s @ ("http" | "https")) => s,
        _ => return Err("must start with http:// or https://".into()),
    };
    let authority = uri.authority().ok_or("has no host")?.as_str().to_string();
    let host = uri.host().ok_or("has no host")?.to_string();
    let path = uri.path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    // A portal copy-paste is the whole chat URL: `/openai/deployments/NAME/chat/completions`.
    let openai_at = segments.iter().position(|s| *s == "openai");
    let (prefix, v1) = match openai_at {
        Some(at) => (
            segments.iter().take(at).copied().collect::<Vec<_>>().join("/"),
            segments.get(at + 1) == Some(&"v1"),
        ),
        None => (path.to_string(), false),
    };
    let mut api_version = None;
    let mut rest = Vec::new();
    for pair in uri.query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("api-version", value)) if !value.is_empty() => api_version = Some(value.to_string()),
            _ => rest.push(pair.to_string()),
        }
    }
    let origin = format!("{scheme}://{authority}");
    Ok(Base {
        root: format!("{origin}{prefix}"),
        origin,
        host,
        v1,
        api_version,
        rest,
        path: path.to_string(),
    })
}

/// Whether an `api-version` selects the v1 scheme (`/openai/v1/...`): LiteLLM
/// takes `preview` and `latest` so; `v1` is Microsoft's own name for it.
fn is_v1(version: &str) -> bool {
    matches!(version, "v1" | "preview" | "latest")
}

/// The query string: `api-version` first (when there is one), then the
/// `api_base`'s own pairs.
fn query(version: Option<&str>, rest: &[String]) -> String {
    let pairs: Vec<String> = version
        .map(|v| format!("api-version={v}"))
        .into_iter()
        .chain(rest.iter().cloned())
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

fn table(make: impl Fn(Endpoint) -> String) -> Result<[Uri; 6], String> {
    let mut urls = Vec::with_capacity(Endpoint::ALL.len());
    for endpoint in Endpoint::ALL {
        urls.push(
            make(endpoint)
                .parse::<Uri>()
                .map_err(|_| "does not make a valid URL with this model".to_string())?,
        );
    }
    urls.try_into()
        .map_err(|_| "has an endpoint table of the wrong size".to_string())
}

/// Azure OpenAI's URLs for `deployment`.
///
/// Classic scheme: `{root}/openai/deployments/{deployment}/chat/completions?api-version=V`
/// (completions and embeddings alike), Responses at `{root}/openai/responses?api-version=V`.
/// v1 scheme (an `api_base` ending in `/openai/v1`, or `api_version` of
/// `v1`/`preview`/`latest`): `{root}/openai/v1/chat/completions`, the
/// deployment named by the body's `model`, `?api-version=` only for
/// `preview`/`latest`. An `api-version` in the `api_base`'s query wins
/// over `api_version` (LiteLLM's order); its other query pairs are kept.
/// Without any version, Responses goes to the v1 scheme's `preview`, as LiteLLM sends it.
pub fn openai_urls(base: &str, deployment: &str, api_version: Option<&str>) -> Result<Urls, String> {
    let base = parse_base(base)?;
    let configured = base.api_version.as_deref().or(api_version);
    let v1 = base.v1 || configured.is_some_and(is_v1);
    let classic = configured.unwrap_or(DEFAULT_API_VERSION);
    let v1_query = |version: Option<&str>| query(version.filter(|v| *v != "v1"), &base.rest);
    let root = &base.root;
    let urls = table(|endpoint| {
        let suffix = endpoint.suffix();
        match endpoint {
            _ if v1 => format!("{root}/openai/v1{suffix}{}", v1_query(configured)),
            Endpoint::Responses if configured.is_none() => format!(
                "{root}/openai/v1{suffix}{}",
                v1_query(Some(DEFAULT_RESPONSES_API_VERSION))
            ),
            Endpoint::Responses => format!("{root}/openai{suffix}{}", query(Some(classic), &base.rest)),
            // Messages and token counts are never sent to Azure (it serves
            // chat and Responses; the rest is translated or counted locally).
            _ => format!(
                "{root}/openai/deployments/{deployment}{suffix}{}",
                query(Some(classic), &base.rest)
            ),
        }
    })?;
    Ok((urls, base.host))
}

/// Whether a Foundry host takes the key as `api-key` and serves its models
/// under `/models` (LiteLLM decides both by this host name).
fn foundry_services(host: &str) -> bool {
    host.contains("services.ai.azure.com")
}

/// Azure AI Foundry's URLs: `{api_base}/models/chat/completions` on a
/// `services.ai.azure.com` host, `{api_base}/chat/completions` elsewhere
/// (serverless endpoints), with `?api-version=` when one is configured. An
/// `api_base` that already ends in `/models` or in an endpoint's path is not doubled.
pub fn foundry_urls(base: &str, api_version: Option<&str>) -> Result<Urls, String> {
    let base = parse_base(base)?;
    // A project's `/openai/v1` base is used as it is, not under `/models`.
    let services = foundry_services(&base.host) && !base.v1;
    let mut path = base.path.as_str();
    for endpoint in Endpoint::ALL {
        path = path.strip_suffix(endpoint.suffix()).unwrap_or(path);
    }
    if services {
        path = path.strip_suffix("/models").unwrap_or(path);
    }
    let origin = &base.origin;
    let models = if services { "/models" } else { "" };
    let version = base.api_version.as_deref().or(api_version);
    let urls = table(|endpoint| {
        format!(
            "{origin}{path}{models}{}{}",
            endpoint.suffix(),
            query(version, &base.rest)
        )
    })?;
    Ok((urls, base.host))
}

/// The header Foundry takes a key in, by host (LiteLLM's rule): `api-key`
/// on `services.ai.azure.com`, else `Authorization: Bearer`. The flag says
/// whether the value is prefixed with `Bearer `.
pub fn foundry_key_header(host: &str) -> (HeaderName, bool) {
    if foundry_services(host) {
        (API_KEY, false)
    } else {
        (AUTHORIZATION, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(urls: &Urls, endpoint: Endpoint) -> String {
        urls.0[endpoint.index()].to_string()
    }

    #[test]
    fn classic_scheme_puts_the_deployment_in_the_path_and_the_version_in_the_query() {
        let urls = openai_urls("https://res.openai.azure.com/", "gpt4o", Some("2024-10-21")).unwrap();
        assert_eq!(
            url(&urls, Endpoint::ChatCompletions),
            "https://res.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            url(&urls, Endpoint::Embeddings),
            "https://res.openai.azure.com/openai/deployments/gpt4o/embeddings?api-version=2024-10-21"
        );
        assert_eq!(
            url(&urls, Endpoint::Responses),
            "https://res.openai.azure.com/openai/responses?api-version=2024-10-21"
        );
        assert_eq!(urls.1, "res.openai.azure.com");
    }

    #[test]
    fn without_a_version_chat_takes_the_default_and_responses_the_v1_preview() {
        let urls = openai_urls("https://res.openai.azure.com", "d", None).unwrap();
        assert!(url(&urls, Endpoint::Completions)
            .ends_with("/openai/deployments/d/completions?api-version=2025-02-01-preview"));
        assert_eq!(
            url(&urls, Endpoint::Responses),
            "https://res.openai.azure.com/openai/v1/responses?api-version=preview"
        );
    }

    #[test]
    fn the_v1_scheme_by_base_or_by_version() {
        let by_base = openai_urls("https://res.openai.azure.com/openai/v1/", "d", None).unwrap();
        assert_eq!(
            url(&by_base, Endpoint::ChatCompletions),
            "https://res.openai.azure.com/openai/v1/chat/completions"
        );
        assert_eq!(
            url(&by_base, Endpoint::Responses),
            "https://res.openai.azure.com/openai/v1/responses"
        );
        let preview = openai_urls("https://res.openai.azure.com", "d", Some("preview")).unwrap();
        assert_eq!(
            url(&preview, Endpoint::Embeddings),
            "https://res.openai.azure.com/openai/v1/embeddings?api-version=preview"
        );
        let v1 = openai_urls("https://res.openai.azure.com", "d", Some("v1")).unwrap();
        assert_eq!(
            url(&v1, Endpoint::ChatCompletions),
            "https://res.openai.azure.com/openai/v1/chat/completions"
        );
    }

    #[test]
    fn a_portal_url_gives_its_resource_and_its_version() {
        let portal =
            "https://res.openai.azure.com/openai/deployments/other/chat/completions?api-version=2024-06-01&x=1";
        let urls = openai_urls(portal, "d", Some("2024-10-21")).unwrap();
        assert_eq!(
            url(&urls, Endpoint::ChatCompletions),
            "https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-06-01&x=1"
        );
        // A gateway in front of Azure keeps its path prefix.
        let proxied = openai_urls("http://127.0.0.1:9/azure/openai", "d", Some("2024-10-21")).unwrap();
        assert!(url(&proxied, Endpoint::ChatCompletions).starts_with("http://127.0.0.1:9/azure/openai/deployments/d/"));
    }

    #[test]
    fn bad_bases_say_why_without_quoting_them() {
        assert!(openai_urls("res.openai.azure.com", "d", None).is_err());
        assert!(openai_urls("ftp://res", "d", None).is_err());
        assert!(openai_urls("https://res/#frag", "d", None).is_err());
        assert!(openai_urls("https://res", "bad name", None).is_err());
    }

    #[test]
    fn foundry_adds_models_on_services_hosts_only() {
        let services = foundry_urls("https://x.services.ai.azure.com/models", Some("2024-05-01-preview")).unwrap();
        assert_eq!(
            url(&services, Endpoint::ChatCompletions),
            "https://x.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview"
        );
        let serverless = foundry_urls("https://m.eastus2.models.ai.azure.com/chat/completions", None).unwrap();
        assert_eq!(
            url(&serverless, Endpoint::Embeddings),
            "https://m.eastus2.models.ai.azure.com/embeddings"
        );
        assert_eq!(foundry_key_header("x.services.ai.azure.com").0, API_KEY);
        assert_eq!(foundry_key_header("m.models.ai.azure.com"), (AUTHORIZATION, true));
    }
}
