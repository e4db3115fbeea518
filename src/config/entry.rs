//! One `model_list` entry, read: its keys audited, its request defaults
//! taken, and the verdict on it: a `Deployment`, loaded disabled, or a
//! problem that stops the config (the rule is on [`deployment`]).

use std::sync::Arc;

use serde_json::Value;

use super::build::{kind, mapping, typed, Report};
use super::deployment::build;
use super::litellm_keys as litellm;
use super::numbers;
use super::provider_setup;
use super::raw;
use super::resolve::Resolver;
use super::routing::Defaults;
use super::{Deployment, DisabledReason};
use crate::providers::{self, Provider};
use crate::request::defaults::RequestDefaults;

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
pub(super) struct Place<'a> {
    pub(super) index: usize,
    pub(super) at: &'a str,
    pub(super) defaults: &'a Defaults,
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
/// not one, and an unreadable `file:` secret (so a reload mid-rotation keeps
/// the running config). A `model` naming no provider tollgate finds (a typo
/// such as `olama/`, a newer LiteLLM's provider, LiteLLM's catch-all `*`, a
/// bare name the bundled table lacks) loads disabled: LiteLLM's proxy starts
/// without that deployment, and `check` warns and `--strict` fails.
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
/// A model naming no provider tollgate can find loads disabled too, as
/// LiteLLM's proxy starts without such a deployment.
fn provider_of(
    raw: &str,
    at: &str,
    resolver: &mut Resolver,
    report: &mut Report,
) -> (Option<(&'static Provider, String)>, Option<&'static str>) {
    let model_at = format!("{at} litellm_params.model");
    let model = match resolver.resolve(raw) {
        Ok(model) => model,
        Err(e) => {
            report.unresolved(model_at, raw, e);
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
        Err(_) => match providers::unsupported(&model) {
            Some(provider) => {
                report.note(format!(
                    "{at}: provider `{provider}` is a LiteLLM provider tollgate does not support yet; the entry is loaded disabled (its requests get a 501)"
                ));
                (None, Some(provider))
            }
            None => {
                // A near provider name is offered only for a value written in
                // the file: one from a variable or a secret file stays unhinted.
                match model_problem(&model, model == raw) {
                    Unusable::Entry(message) => report.unservable(model_at, message),
                    Unusable::Config(message) => report.problem(model_at, message),
                }
                (None, None)
            }
        },
    }
}

/// Why a `model` no provider serves cannot be used.
enum Unusable {
    /// Only this entry: it loads disabled.
    Entry(String),
    /// The file is wrong: the config fails.
    Config(String),
}

/// The sentence for a `model` that names no provider tollgate finds; it
/// quotes nothing of the value, which may have come from a secret reference.
fn model_problem(model: &str, hint: bool) -> Unusable {
    let model = model.trim();
    if model == "*" {
        return Unusable::Entry(
            "`*` is LiteLLM's catch-all (it takes each request's provider from the model name); tollgate does not route a bare `*` entry: name the provider as in `model: openai/*` (a `model_name: \"*\"` entry then sends any model name there)".into(),
        );
    }
    match model.split_once('/') {
        None => Unusable::Entry(
            "has no provider prefix and the bundled model table does not know it; write it as `openai/<model>` for an OpenAI-compatible server".into(),
        ),
        Some((_, "")) => Unusable::Config("names no model after the provider prefix".into()),
        Some((prefix, _)) => {
            let known = providers::known_names();
            let near = hint
                .then(|| super::build::closest(prefix, known.iter()))
                .flatten()
                .map(|near| format!("; did you mean `{near}/`?"))
                .unwrap_or_else(|| {
                    "; for an OpenAI-compatible server write `openai/<model>` with its api_base".into()
                });
            Unusable::Entry(format!("names an unknown provider (neither LiteLLM's nor tollgate's){near}"))
        }
    }
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
