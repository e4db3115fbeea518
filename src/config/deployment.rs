//! One `model_list` entry's fields to a `Deployment`: URL, key, headers,
//! timeout and price, each field checked even when another failed.

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Uri};
use serde_json::Value;

use super::build::{scalar, Report};
use super::entry::Place;
use super::numbers::seconds_at;
use super::provider_setup;
use super::raw;
use super::resolve::Resolver;
use super::Deployment;
use crate::protocol::Format;
use crate::providers::{self, Endpoint, Provider, Wire};
use crate::request::defaults::RequestDefaults;
use crate::secret::Secret;
use crate::spend;

/// Headers the gateway owns on the upstream connection; a config may not set them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
];

/// The rest of an entry, once its provider is known (or known to be
/// missing): each field is checked even when an earlier one failed, so one
/// run reports every problem.
pub(super) fn build(
    entry: raw::ModelEntry,
    request_defaults: RequestDefaults,
    provider: Option<(&'static Provider, String)>,
    place: &Place<'_>,
    resolver: &mut Resolver,
    report: &mut Report,
) -> Option<Deployment> {
    let Place { index, at, defaults } = *place;
    let params = entry.litellm_params;
    let model_name = entry.model_name.trim();
    if model_name.is_empty() {
        report.problem(at, "model_name is empty");
    }
    let resolve = |resolver: &mut Resolver, field: &str, raw: &str, report: &mut Report| {
        resolver
            .resolve(raw)
            .map_err(|e| report.unresolved(format!("{at} litellm_params.{field}"), raw, e))
            .ok()
    };
    // LiteLLM's `openai/chat_completions/<model>` says "chat only" in the name.
    let (provider, chat_only_prefix) = match provider {
        Some((p, upstream)) if p.wire == Wire::OpenAi && upstream.starts_with("chat_completions/") => {
            let upstream = upstream["chat_completions/".len()..].to_string();
            (Some((p, upstream)), true)
        }
        other => (other, false),
    };
    let api_key = match (&params.api_key, provider.as_ref().map(|p| p.0)) {
        (Some(raw), _) => resolve(resolver, "api_key", raw, report),
        (None, Some(provider)) => {
            // Unset, worth a warning only where the provider's own hosted
            // service is called: a server of one's own often needs no key.
            let hosted = params.api_base.is_none() && params.mock_response.is_none();
            env_fallback(provider, Var::Key { hosted }, resolver, at, report)
        }
        (None, None) => None,
    }
    .map(Secret::new);
    let base = match (&params.api_base, provider.as_ref().map(|p| p.0)) {
        // Built with the credentials below (`provider_setup`).
        (_, Some(provider)) if provider_setup::handles(provider) => None,
        (Some(raw), _) => resolve(resolver, "api_base", raw, report),
        (None, Some(provider)) => match env_fallback(provider, Var::Base, resolver, at, report) {
            Some(base) => Some(base),
            None => match provider.default_base {
                Some(default) => Some(default.to_string()),
                None => {
                    // Name the variable read in its place, as Azure's reason does.
                    let vars: Vec<&str> = providers::table::entry(provider.name)
                        .map(|e| e.base_vars().collect())
                        .unwrap_or_default();
                    let or_var = if vars.is_empty() {
                        String::new()
                    } else {
                        format!(" (or {})", vars.join(" or "))
                    };
                    let message = format!("provider `{}` needs an api_base{or_var}", provider.name);
                    report.unservable(format!("{at} litellm_params.api_base"), message);
                    None
                }
            },
        },
        (None, None) => None,
    };
    let urls_wire = provider.as_ref().map_or(Wire::OpenAi, |p| p.0.wire);
    let urls = base.and_then(|base| {
        upstream_urls(&base, urls_wire)
            .map_err(|e| report.unservable(format!("{at} litellm_params.api_base"), e))
            .ok()
    });

    let mut headers = HeaderMap::new();
    for (field, map) in [("headers", &params.headers), ("extra_headers", &params.extra_headers)] {
        for (name, value) in map.iter().flatten() {
            let where_ = format!("{at} litellm_params.{field}.{name}");
            // LiteLLM's HTTP client drops such a header; so does tollgate, saying so.
            if name.contains(char::is_whitespace) {
                report.note(format!(
                    "{where_}: a header name cannot hold a space; the header is skipped"
                ));
                continue;
            }
            let Some(value) = scalar(value) else {
                report.problem(where_, "must be a string");
                continue;
            };
            // A bad name is the file's; a bad value may be a variable's.
            let name = header_name(name).map_err(|e| report.problem(where_.clone(), e));
            let Some(value) = resolve(resolver, field, &value, report) else {
                continue;
            };
            match (name, sensitive_value(&value)) {
                (Ok(name), Ok(value)) => {
                    headers.insert(name, value);
                }
                (Ok(_), Err(e)) => report.unservable(where_, e),
                (Err(()), _) => {}
            }
        }
    }
    let mut credential = None;
    let mut api_key = api_key;
    let mut own_authorization = None;
    let urls = match &provider {
        Some((p, model)) if provider_setup::handles(p) => {
            let setup = provider_setup::setup((p, model), &params, api_key.take(), &headers, at, resolver, report);
            setup.map(|setup| {
                (credential, api_key, own_authorization) = (setup.credential, setup.api_key, setup.authorization);
                setup.urls
            })
        }
        _ => urls,
    };
    let mut secs =
        |field: &str, value: Option<&Value>| seconds_at(value, &format!("{at} litellm_params.{field}"), report);
    let timeout = secs("timeout", params.timeout.as_ref()).unwrap_or(defaults.timeout);
    // The first chunk may take at most the whole request's time.
    let stream_timeout = secs("stream_timeout", params.stream_timeout.as_ref())
        .or(defaults.stream_timeout)
        .unwrap_or(timeout)
        .min(timeout);
    let pattern = match model_name.matches('*').count() {
        0 => None,
        1 => model_name.split_once('*').map(|(p, s)| (p.to_string(), s.to_string())),
        _ => {
            report.problem(at, "model_name may hold at most one `*`");
            None
        }
    };
    let wire = provider.as_ref().map_or(Wire::OpenAi, |p| p.0.wire);
    // Built once here, not per request; configured headers may set their own.
    let auth_name = match wire {
        Wire::OpenAi => http::header::AUTHORIZATION,
        Wire::Anthropic => HeaderName::from_static("x-api-key"),
    };
    let authorization = match &api_key {
        _ if provider.as_ref().is_some_and(|p| provider_setup::handles(p.0)) => own_authorization,
        Some(key) if !headers.contains_key(&auth_name) => {
            let text = match wire {
                Wire::OpenAi => format!("Bearer {}", key.expose()),
                Wire::Anthropic => key.expose().to_string(),
            };
            match HeaderValue::from_str(&text) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    Some((auth_name, value))
                }
                Err(_) => {
                    report.unservable(
                        format!("{at} litellm_params.api_key"),
                        "holds characters a header cannot carry",
                    );
                    None
                }
            }
        }
        _ => None,
    };
    let (Some((provider, upstream_model)), Some((urls, server_address))) = (provider, urls) else {
        return None;
    };
    let mode = entry
        .model_info
        .as_ref()
        .and_then(|info| info.get("mode"))
        .and_then(Value::as_str);
    let serves = serves(
        provider,
        &server_address,
        mode,
        params.use_chat_completions_api,
        chat_only_prefix,
    );
    let base_model = entry
        .model_info
        .as_ref()
        .and_then(|info| info.get("base_model"))
        .and_then(Value::as_str);
    let prices = spend::PriceOverride {
        input: params.input_cost_per_token,
        output: params.output_cost_per_token,
        cache_read: params.cache_read_input_token_cost,
        cache_write: params.cache_creation_input_token_cost,
        reasoning: params.output_cost_per_reasoning_token,
    };
    let price = spend::price_for(provider.name, &upstream_model, base_model, &prices);
    let max_output_tokens = spend::max_output_tokens(provider.name, base_model.unwrap_or(&upstream_model));
    let label = Arc::from(format!("{}/{}", provider.name, upstream_model));
    Some(Deployment {
        index_header: http::HeaderValue::from(index),
        name_header: http::HeaderValue::from_str(model_name).ok(),
        model_name: Arc::from(model_name),
        index,
        provider,
        upstream_model_json: Arc::from(serde_json::to_string(&upstream_model).unwrap_or_default()),
        upstream_model: Arc::from(upstream_model),
        urls,
        server_address: Arc::from(server_address),
        authorization,
        credential,
        max_output_tokens,
        serves,
        label,
        api_key,
        headers,
        timeout: Duration::from_secs_f64(timeout),
        stream_timeout: Duration::from_secs_f64(stream_timeout),
        mock_response: params.mock_response.map(Arc::from),
        request_defaults,
        param_renames: providers::table::entry(provider.name).map_or(&[], |e| e.renames.as_slice()),
        rpm: params.rpm,
        tpm: params.tpm,
        weight: params.weight,
        order: params.order.unwrap_or(u32::MAX),
        pattern,
        state: crate::router::State::default(),
        price,
        metrics: Default::default(),
    })
}

/// LiteLLM's prefix for OpenAI's text completion models.
const TEXT_COMPLETION: &str = "text-completion-openai";

/// Which client formats a deployment's server speaks itself, most
/// preferred first: the rest are translated (see `protocol::plan`).
fn serves(
    provider: &Provider,
    host: &str,
    mode: Option<&str>,
    use_chat_completions_api: Option<bool>,
    chat_only_prefix: bool,
) -> Vec<Format> {
    match provider.wire {
        Wire::Anthropic => vec![Format::Anthropic],
        // LiteLLM's `text-completion-openai/` names a completions-only model
        // (`gpt-3.5-turbo-instruct`): `/v1/completions` (and embeddings) pass
        // through; a chat, Responses or Messages request gets a 400 naming the
        // provider and the endpoint rather than the upstream's 404 ("not a
        // chat model"). LiteLLM would rewrite the chat turns into one prompt,
        // which tollgate's translation does not do.
        Wire::OpenAi if provider.name == TEXT_COMPLETION => vec![],
        // A Responses-only model (LiteLLM's `model_info.mode: responses`).
        Wire::OpenAi if mode == Some("responses") => vec![Format::Responses],
        Wire::OpenAi => {
            // OpenAI's own API serves Responses; most OpenAI-compatible
            // servers (Kimi, OpenRouter's, Ollama's, vLLM's) do not.
            let native = match use_chat_completions_api {
                Some(chat_only) => !chat_only,
                None => !chat_only_prefix && (host == "api.openai.com" || provider_setup::serves_responses(provider)),
            };
            if native && !chat_only_prefix {
                vec![Format::Chat, Format::Responses]
            } else {
                vec![Format::Chat]
            }
        }
    }
}

/// Checks `api_base` and derives each endpoint's URL and the host.
pub(super) fn upstream_urls(base: &str, wire: Wire) -> Result<([Uri; 6], String), String> {
    let base = base.trim().trim_end_matches('/');
    // The value is never echoed: it may have come from a secret reference.
    let uri: Uri = base.parse().map_err(|_| "is not a URL".to_string())?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err("must start with http:// or https://".into()),
    }
    let host = uri.host().ok_or("has no host")?.to_string();
    if base.contains('#') {
        return Err("must not carry a fragment".into());
    }
    // A query (Azure's `?api-version=`) goes on every endpoint's URL.
    let (base, query) = match base.split_once('?') {
        Some((base, query)) => (base.trim_end_matches('/'), format!("?{query}")),
        None => (base, String::new()),
    };
    // Anthropic's base is the host (`https://api.anthropic.com`), LiteLLM's
    // way; OpenAI-style bases end in the version (`.../v1`). Either is taken.
    let versioned = match wire {
        Wire::Anthropic if !base.ends_with("/v1") => format!("{base}/v1"),
        _ => base.to_string(),
    };
    let mut urls = Vec::with_capacity(Endpoint::ALL.len());
    for endpoint in Endpoint::ALL {
        let url = format!("{versioned}{}{query}", endpoint.suffix());
        urls.push(url.parse::<Uri>().map_err(|e| e.to_string())?);
    }
    let urls = urls
        .try_into()
        .map_err(|_| "has an endpoint table of the wrong size".to_string())?;
    Ok((urls, host))
}

/// A configured header's name.
fn header_name(name: &str) -> Result<HeaderName, String> {
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| "is not a valid header name".to_string())?;
    if RESERVED_HEADERS.contains(&name.as_str()) {
        return Err("is set by the gateway itself and cannot be configured".into());
    }
    Ok(name)
}

/// A configured header's value, marked sensitive so it is never logged.
fn sensitive_value(value: &str) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(value).map_err(|_| "is not a valid header value".to_string())?;
    value.set_sensitive(true);
    Ok(value)
}

/// Which environment fallback to read.
#[derive(Clone, Copy)]
enum Var {
    /// `hosted`: the entry calls the provider's default `api_base`.
    Key {
        hosted: bool,
    },
    Base,
}

/// The value of the first of the provider's variables that is set, for an
/// entry without its own `api_key`/`api_base`, as LiteLLM reads them; named
/// in a note (never the value) so `check` says where it came from.
fn env_fallback(provider: &Provider, which: Var, resolver: &Resolver, at: &str, report: &mut Report) -> Option<String> {
    let entry = providers::table::entry(provider.name)?;
    let (field, mut vars): (&str, Box<dyn Iterator<Item = &str>>) = match which {
        Var::Key { .. } => ("api_key", Box::new(entry.key_vars())),
        Var::Base => ("api_base", Box::new(entry.base_vars())),
    };
    let mut names = Vec::new();
    let found = vars.find_map(|name| {
        names.push(name);
        resolver.var(name).filter(|v| !v.is_empty()).map(|v| (name, v))
    });
    let Some((name, value)) = found else {
        // LiteLLM sends no key then, and so does tollgate; the provider
        // will most likely refuse: say so before the first request does.
        if matches!(which, Var::Key { hosted: true }) && !names.is_empty() {
            report.note(format!(
                "{at}: no litellm_params.api_key, and {} is not set: requests go to `{}` without a key",
                names.join(" / "),
                provider.name
            ));
        }
        return None;
    };
    report.note(format!(
        "{at}: litellm_params.{field} taken from environment variable {name}"
    ));
    Some(value)
}
