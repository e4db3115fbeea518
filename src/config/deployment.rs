//! One `model_list` entry to a `Deployment`: provider, URL, key, headers,
//! timeout and price, each field checked even when another failed.

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Uri};
use serde_json::Value;

use super::build::{kind, mapping, scalar, typed, Report};
use super::litellm_keys as litellm;
use super::numbers::{self, seconds_at};
use super::provider_setup;
use super::raw;
use super::resolve::Resolver;
use super::routing::Defaults;
use super::{Deployment, DisabledReason};
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

const NO_MODELS: &str =
    "model_list is missing or empty: the gateway starts with no models (LiteLLM keeps them in its database; tollgate has none)";

pub(super) fn model_list(
    value: Option<Value>,
    defaults: &Defaults,
    resolver: &mut Resolver,
    report: &mut Report,
) -> Vec<Arc<Deployment>> {
    let entries = match value {
        Some(Value::Array(entries)) => entries,
        // LiteLLM keeps models in its database too, so a config without any
        // starts there; tollgate starts, not ready, and says why.
        Some(Value::Null) | None => {
            report.note(NO_MODELS);
            return vec![];
        }
        Some(other) => {
            report.problem("model_list", format!("must be a list, found {}", kind(&other)));
            return vec![];
        }
    };
    if entries.is_empty() {
        report.note(NO_MODELS);
    }
    let mut out = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        // The position, not the model_name: problems reach the unauthenticated
        // readiness endpoint, and names are the file's content.
        let at = format!("model_list[{index}]");
        if let Some(d) = deployment(entry, index, &at, defaults, resolver, report) {
            out.push(Arc::new(d));
        }
    }
    out
}

const ENTRY_KEYS: &[&str] = &["model_name", "litellm_params", "model_info"];
const PARAM_KEYS: &[&str] = &[
    "model",
    "api_base",
    "api_key",
    "headers",
    "extra_headers",
    "timeout",
    "mock_response",
    "use_chat_completions_api",
    "stream_timeout",
    "rpm",
    "tpm",
    "weight",
    "order",
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
    "api_version",
    "azure_ad_token",
    "tenant_id",
    "client_id",
    "client_secret",
    "azure_authority_host",
    "azure_scope",
];

/// Request fields LiteLLM sends from `litellm_params` when the client did not
/// (`extra_body`'s members are spread at the top, as the OpenAI SDK does).
const REQUEST_DEFAULT_KEYS: &[&str] = &[
    "extra_body",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "n",
    "parallel_tool_calls",
    "presence_penalty",
    "reasoning_effort",
    "response_format",
    "seed",
    "stop",
    "temperature",
    "tool_choice",
    "top_logprobs",
    "top_p",
    "user",
];

/// Where an entry sits, and the defaults it inherits.
struct Place<'a> {
    index: usize,
    at: &'a str,
    defaults: &'a Defaults,
}

/// One entry: a `Deployment`, or `None` when it is broken (a problem: the
/// config fails) or cannot be served (it is pushed to `report.disabled`).
///
/// The rule for which: what LiteLLM would meet only when the entry is
/// called makes just that entry unservable, as LiteLLM starts and fails
/// only that model at call time. That is a provider tollgate does not speak,
/// an `api_base` that is missing (no default, no variable) or not an
/// http(s) URL, an `os.environ/` variable that is not set, a credential or
/// header value a header cannot carry, Azure settings it cannot use. What
/// is wrong in the file's shape stays a problem: a value of the wrong
/// type, a number out of bounds, an empty `model_name`, a header name that is
/// not one, a provider nobody has (a typo), and an unreadable `file:`
/// secret (so a reload mid-rotation keeps the running config).
fn deployment(
    entry: Value,
    index: usize,
    at: &str,
    defaults: &Defaults,
    resolver: &mut Resolver,
    report: &mut Report,
) -> Option<Deployment> {
    let mut entry = mapping(entry, at, report)?;
    lift_entry_limits(&mut entry);
    report.audit(&mut entry, ENTRY_KEYS, litellm::MODEL_ENTRY, "", at);
    if let Some(params) = entry.get_mut("litellm_params") {
        match params {
            Value::Object(params) => {
                provider_setup::map_native_options(params, at, report);
                let implemented: Vec<&str> = PARAM_KEYS.iter().chain(REQUEST_DEFAULT_KEYS).copied().collect();
                report.audit(params, &implemented, litellm::LITELLM_PARAMS, "litellm_params.", at);
                numbers::check(
                    params,
                    numbers::LITELLM_PARAMS,
                    &format!("{at} litellm_params."),
                    report,
                );
            }
            other => {
                report.problem(at, format!("litellm_params must be a mapping, found {}", kind(other)));
                return None;
            }
        }
    }
    let request_defaults = take_request_defaults(&mut entry, at, report);
    let entry: raw::ModelEntry = typed(Value::Object(entry), at, report)?;
    let before = (report.problems.len(), report.unservable.len());
    let model_name: Arc<str> = Arc::from(entry.model_name.trim());
    let (provider, unsupported) = provider_of(&entry.litellm_params.model, at, resolver, report);
    let label = unsupported.or(provider.as_ref().map(|p| p.0.name));
    let place = Place { index, at, defaults };
    let built = build(entry, request_defaults, provider, &place, resolver, report);
    if report.problems.len() > before.0 {
        // The config fails; what else is wrong with this entry shows once that is fixed.
        report.unservable.truncate(before.1);
        return None;
    }
    let reasons = report.unservable.split_off(before.1);
    let reason = match (unsupported, reasons.is_empty()) {
        (None, true) => return built,
        (Some(_), _) => DisabledReason::ProviderNotSupported,
        (None, false) => {
            let each: Vec<String> = reasons.iter().map(|p| unservable_reason(p, at)).collect();
            report.note(format!(
                "{at}: cannot be served ({}); the entry is loaded disabled (its requests get a 501)",
                each.join("; ")
            ));
            DisabledReason::Unservable(Arc::from(each.first().map_or("", String::as_str)))
        }
    };
    report.disabled.push(super::Disabled {
        model_name,
        index,
        provider: label.unwrap_or("unknown"),
        reason,
    });
    None
}

/// A problem as a disabled entry's reason: its key path inside the entry
/// and its sentence (which quotes no value).
fn unservable_reason(problem: &super::Problem, at: &str) -> String {
    let field = problem.at.strip_prefix(at).unwrap_or(&problem.at).trim();
    match field {
        "" => problem.message.clone(),
        field => format!("{field}: {}", problem.message),
    }
}

/// The entry's provider and upstream model, or the LiteLLM provider
/// tollgate does not speak yet that it names (noted; the entry loads disabled).
fn provider_of(
    model: &str,
    at: &str,
    resolver: &mut Resolver,
    report: &mut Report,
) -> (Option<(&'static Provider, String)>, Option<&'static str>) {
    let model_at = format!("{at} litellm_params.model");
    let model = match resolver.resolve(model) {
        Ok(model) => model,
        Err(e) => {
            report.unresolved(model_at, model, e);
            return (None, None);
        }
    };
    match providers::parse_model_found(&model) {
        Ok((provider, upstream, found)) => {
            if found == providers::Found::Inferred {
                report.note(format!(
                    "{at}: provider `{}` inferred for a model named without one, from the bundled model table",
                    provider.name
                ));
            }
            (Some((provider, with_model_prefix(provider, upstream))), None)
        }
        // The others still serve; this one answers 501 (LiteLLM would serve it).
        Err(e) => match providers::unsupported(&model) {
            Some(provider) => {
                report.note(format!(
                    "{at}: provider `{provider}` is a LiteLLM provider tollgate does not support yet; the entry is loaded disabled (its requests get a 501)"
                ));
                (None, Some(provider))
            }
            None => {
                report.problem(model_at, model_problem(&model, e));
                (None, None)
            }
        },
    }
}

/// The rest of an entry, once its provider is known (or known to be
/// missing): each field is checked even when an earlier one failed, so one
/// run reports every problem.
fn build(
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
        (None, Some(provider)) => env_fallback(provider, Var::Key, resolver, at, report),
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
                    let message = format!("provider `{}` needs an api_base", provider.name);
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

/// `parse_model`'s message when it names only a provider from LiteLLM's list
/// (a closed set); otherwise one that quotes nothing of the value, which may
/// have come from a secret reference.
fn model_problem(model: &str, message: String) -> String {
    match model.split_once('/') {
        None => "has no provider prefix; write it as `openai/<model>` for an OpenAI-compatible server".into(),
        Some((_, "")) => "names no model after the provider prefix".into(),
        Some(_) if message.contains("does not support yet") => message,
        Some(_) => match message.split_once("(supported: ") {
            Some((_, list)) => format!("names an unknown provider (supported: {list}"),
            None => "names an unknown provider".into(),
        },
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

/// LiteLLM reads entry-level `rpm`/`tpm` as the deployment's own: moved into
/// `litellm_params` unless set there too.
fn lift_entry_limits(entry: &mut serde_json::Map<String, Value>) {
    for key in ["rpm", "tpm"] {
        let Some(value) = entry.remove(key) else { continue };
        if let Some(Value::Object(params)) = entry.get_mut("litellm_params") {
            params.entry(key).or_insert(value);
        }
    }
}

/// The upstream model name with the provider's model prefix, added as
/// LiteLLM does when the name lacks it.
fn with_model_prefix(provider: &Provider, upstream: &str) -> String {
    match providers::table::entry(provider.name) {
        Some(entry) if !entry.model_prefix.is_empty() && !upstream.starts_with(entry.model_prefix) => {
            format!("{}{upstream}", entry.model_prefix)
        }
        _ => upstream.to_string(),
    }
}

/// Which environment fallback to read.
#[derive(Clone, Copy)]
enum Var {
    Key,
    Base,
}

/// The value of the first of the provider's variables that is set, for an
/// entry without its own `api_key`/`api_base`, as LiteLLM reads them; named
/// in a note (never the value) so `check` says where it came from.
fn env_fallback(provider: &Provider, which: Var, resolver: &Resolver, at: &str, report: &mut Report) -> Option<String> {
    let entry = providers::table::entry(provider.name)?;
    let (field, mut vars): (&str, Box<dyn Iterator<Item = &str>>) = match which {
        Var::Key => ("api_key", Box::new(entry.key_vars())),
        Var::Base => ("api_base", Box::new(entry.base_vars())),
    };
    let (name, value) = vars.find_map(|name| resolver.var(name).filter(|v| !v.is_empty()).map(|v| (name, v)))?;
    report.note(format!(
        "{at}: litellm_params.{field} taken from environment variable {name}"
    ));
    Some(value)
}

/// Takes the request defaults out of `litellm_params`, in key order.
fn take_request_defaults(entry: &mut serde_json::Map<String, Value>, at: &str, report: &mut Report) -> RequestDefaults {
    let Some(Value::Object(params)) = entry.get_mut("litellm_params") else {
        return RequestDefaults::default();
    };
    let mut out = Vec::new();
    for key in REQUEST_DEFAULT_KEYS {
        match (params.remove(*key), *key) {
            (None | Some(Value::Null), _) => {}
            (Some(Value::Object(extra)), "extra_body") => {
                out.extend(extra.into_iter().map(|(k, v)| (k, v, true)));
            }
            (Some(other), "extra_body") => {
                report.problem(
                    format!("{at} litellm_params.extra_body"),
                    format!("must be a mapping, found {}", kind(&other)),
                );
            }
            (Some(value), key) => out.push((key.to_string(), value, false)),
        }
    }
    RequestDefaults::new(&out)
}
