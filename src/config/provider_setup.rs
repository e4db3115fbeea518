//! The parts of a deployment that Azure, Azure AI Foundry and Ollama build by
//! rules of their own: URLs, environment fallbacks, and credentials.

use std::sync::Arc;

use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::{HeaderMap, Uri};
use serde_json::{Map, Value};

use super::build::Report;
use super::raw::LitellmParams;
use super::resolve::Resolver;
use crate::providers::entra::{self, ClientCredentials, TokenSource};
use crate::providers::{azure, ollama, Provider};
use crate::secret::Secret;

/// What such a provider gives its `Deployment`.
pub(super) struct Setup {
    /// Each endpoint's URL and the host.
    pub urls: ([Uri; 6], String),
    /// The key or static token's header, built once and marked sensitive.
    pub authorization: Option<(HeaderName, HeaderValue)>,
    /// Fetches Entra ID tokens (client credentials).
    pub credential: Option<Arc<TokenSource>>,
    /// The static secret sent (key or token), so answers are cleaned of it.
    pub api_key: Option<Secret>,
}

/// Whether `provider` is built here rather than by the generic rules.
pub(super) fn handles(provider: &Provider) -> bool {
    [
        azure::AZURE.name,
        azure::AZURE_AI.name,
        ollama::OLLAMA.name,
        ollama::OLLAMA_CHAT.name,
    ]
    .contains(&provider.name)
}

/// Whether the provider's server serves Responses itself (Azure OpenAI does).
pub(super) fn serves_responses(provider: &Provider) -> bool {
    provider.name == azure::AZURE.name
}

/// Before the keys are checked: an Ollama entry's native options become
/// their `/v1` names or are dropped with a warning (`providers::ollama`).
pub(super) fn map_native_options(params: &mut Map<String, Value>, at: &str, report: &mut Report) {
    let model = params.get("model").and_then(Value::as_str).unwrap_or("");
    if model.starts_with("ollama/") || model.starts_with("ollama_chat/") {
        for warning in ollama::map_options(params) {
            report.note(format!("{at} {warning}"));
        }
    }
}

/// Reads a variable the way `os.environ/NAME` does, without a problem when unset.
fn env(resolver: &mut Resolver, name: &str) -> Option<String> {
    resolver
        .resolve(&format!("os.environ/{name}"))
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// A `litellm_params` string, resolved; a missing reference is reported
/// (`Report::unresolved` says how much it weighs).
fn field(resolver: &mut Resolver, report: &mut Report, at: &str, name: &str, raw: &Option<String>) -> Option<String> {
    let raw = raw.as_ref()?;
    resolver
        .resolve(raw)
        .map_err(|e| report.unresolved(format!("{at} litellm_params.{name}"), raw, e))
        .ok()
}

/// Builds what `provider` needs; `None` after reporting a problem.
/// `headers` are the entry's configured headers: one that sets the key's
/// header itself wins.
pub(super) fn setup(
    (provider, upstream_model): (&'static Provider, &str),
    params: &LitellmParams,
    api_key: Option<Secret>,
    headers: &HeaderMap,
    at: &str,
    resolver: &mut Resolver,
    report: &mut Report,
) -> Option<Setup> {
    let base_at = format!("{at} litellm_params.api_base");
    let base = field(resolver, report, at, "api_base", &params.api_base);
    let version = field(resolver, report, at, "api_version", &params.api_version);
    let with_base = |base: Option<String>, var: &str, report: &mut Report| {
        if base.is_none() {
            let message = format!("provider `{}` needs an api_base (or {var})", provider.name);
            report.unservable(base_at.clone(), message);
        }
        base
    };
    let urls = |result: Result<([Uri; 6], String), String>, report: &mut Report| {
        result.map_err(|e| report.unservable(base_at.clone(), e)).ok()
    };
    match provider.name {
        "azure" => {
            let base = with_base(
                base.or_else(|| env(resolver, "AZURE_API_BASE")),
                "AZURE_API_BASE",
                report,
            );
            let version = version.or_else(|| env(resolver, "AZURE_API_VERSION"));
            let urls = urls(azure::openai_urls(&base?, upstream_model, version.as_deref()), report);
            let credential = azure_credential(params, api_key, at, resolver, report);
            let urls = urls?;
            let credential = credential.ok()?;
            Some(azure_setup(urls, credential, headers, at, report))
        }
        "azure_ai" => {
            let base = with_base(
                base.or_else(|| env(resolver, "AZURE_AI_API_BASE")),
                "AZURE_AI_API_BASE",
                report,
            );
            let (urls, host) = urls(azure::foundry_urls(&base?, version.as_deref()), report)?;
            let api_key = api_key.or_else(|| env(resolver, "AZURE_AI_API_KEY").map(Secret::new));
            let (name, bearer) = azure::foundry_key_header(&host);
            let authorization = key_header(name, bearer, api_key.as_ref(), headers, at, report);
            Some(Setup {
                urls: (urls, host),
                authorization,
                credential: None,
                api_key,
            })
        }
        _ => {
            // Ollama ignores keys; one given (a proxy in front) goes as Bearer.
            let base = base
                .or_else(|| env(resolver, ollama::BASE_VAR))
                .unwrap_or_else(|| provider.default_base.unwrap_or_default().to_string());
            let result = super::deployment::upstream_urls(&ollama::openai_base(&base), provider.wire);
            let urls = urls(result, report)?;
            let authorization = key_header(AUTHORIZATION, true, api_key.as_ref(), headers, at, report);
            Some(Setup {
                urls,
                authorization,
                credential: None,
                api_key,
            })
        }
    }
}

/// How an `azure/` entry authenticates.
enum Credential {
    /// `api-key: <key>`.
    Key(Secret),
    /// `Authorization: Bearer <token>`, a token the config gives.
    Token(Secret),
    /// `Authorization: Bearer <token>`, tokens fetched by client credentials.
    Fetched(Arc<TokenSource>),
    None,
}

/// The entry's own credentials first (`api_key`, `azure_ad_token`, then
/// `tenant_id` + `client_id` + `client_secret`), then the environment's in
/// the same order (`AZURE_OPENAI_API_KEY`/`AZURE_API_KEY`, `AZURE_AD_TOKEN`,
/// `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET`).
fn azure_credential(
    params: &LitellmParams,
    api_key: Option<Secret>,
    at: &str,
    resolver: &mut Resolver,
    report: &mut Report,
) -> Result<Credential, ()> {
    if let Some(key) = api_key {
        return Ok(Credential::Key(key));
    }
    let token = field(resolver, report, at, "azure_ad_token", &params.azure_ad_token);
    let tenant = field(resolver, report, at, "tenant_id", &params.tenant_id);
    let client = field(resolver, report, at, "client_id", &params.client_id);
    let secret = field(resolver, report, at, "client_secret", &params.client_secret);
    let authority = field(
        resolver,
        report,
        at,
        "azure_authority_host",
        &params.azure_authority_host,
    );
    let scope = field(resolver, report, at, "azure_scope", &params.azure_scope);
    let from_env = token.is_none() && (tenant.is_none() || client.is_none() || secret.is_none());
    let (token, tenant, client, secret) = if from_env {
        if let Some(key) = azure::KEY_VARS.iter().find_map(|var| env(resolver, var)) {
            return Ok(Credential::Key(Secret::new(key)));
        }
        (
            env(resolver, "AZURE_AD_TOKEN"),
            tenant.or_else(|| env(resolver, "AZURE_TENANT_ID")),
            client.or_else(|| env(resolver, "AZURE_CLIENT_ID")),
            secret.or_else(|| env(resolver, "AZURE_CLIENT_SECRET")),
        )
    } else {
        (token, tenant, client, secret)
    };
    if let Some(token) = token {
        if token.starts_with("oidc/") {
            report.unservable(
                format!("{at} litellm_params.azure_ad_token"),
                "`oidc/` federated tokens are not supported; use api_key, a token, or tenant_id, client_id and client_secret",
            );
            return Err(());
        }
        return Ok(Credential::Token(Secret::new(token)));
    }
    let (Some(tenant), Some(client_id), Some(secret)) = (tenant, client, secret) else {
        return Ok(Credential::None);
    };
    let authority = authority
        .or_else(|| env(resolver, "AZURE_AUTHORITY_HOST"))
        .unwrap_or_else(|| entra::DEFAULT_AUTHORITY.to_string());
    let credentials = ClientCredentials {
        authority,
        tenant,
        client_id,
        client_secret: Secret::new(secret),
        scope: scope.unwrap_or_else(|| entra::DEFAULT_SCOPE.to_string()),
    };
    TokenSource::shared(credentials)
        .map(Credential::Fetched)
        .map_err(|e| report.unservable(format!("{at} litellm_params"), e))
}

fn azure_setup(
    urls: ([Uri; 6], String),
    credential: Credential,
    headers: &HeaderMap,
    at: &str,
    report: &mut Report,
) -> Setup {
    let (authorization, api_key, credential) = match credential {
        Credential::Key(key) => (
            key_header(azure::API_KEY, false, Some(&key), headers, at, report),
            Some(key),
            None,
        ),
        Credential::Token(token) => (
            key_header(AUTHORIZATION, true, Some(&token), headers, at, report),
            Some(token),
            None,
        ),
        Credential::Fetched(source) => (None, None, Some(source)),
        Credential::None => {
            report.note(format!(
                "{at}: an azure entry with no api_key, azure_ad_token or tenant_id/client_id/client_secret (nor AZURE_API_KEY in the environment) calls Azure without credentials"
            ));
            (None, None, None)
        }
    };
    Setup {
        urls,
        authorization,
        credential,
        api_key,
    }
}

/// `name: [Bearer ]<secret>`, marked sensitive; `None` without a secret or
/// when the configured headers set `name` themselves.
fn key_header(
    name: HeaderName,
    bearer: bool,
    secret: Option<&Secret>,
    headers: &HeaderMap,
    at: &str,
    report: &mut Report,
) -> Option<(HeaderName, HeaderValue)> {
    let secret = secret?;
    if headers.contains_key(&name) {
        return None;
    }
    let text = if bearer {
        format!("Bearer {}", secret.expose())
    } else {
        secret.expose().to_string()
    };
    match HeaderValue::from_str(&text) {
        Ok(mut value) => {
            value.set_sensitive(true);
            Some((name, value))
        }
        Err(_) => {
            report.unservable(
                format!("{at} litellm_params"),
                "the key or token holds characters a header cannot carry",
            );
            None
        }
    }
}
