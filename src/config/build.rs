//! From YAML text to a `Config`: audit keys against LiteLLM's schema, parse
//! each section, resolve references, validate, and collect every problem.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Uri};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::litellm_keys as litellm;
use super::raw;
use super::resolve::Resolver;
use super::{Config, Deployment, Loaded, Problem};
use crate::auth::{ClientKey, Keys};
use crate::providers::{self, Endpoint};
use crate::secret::Secret;

const DEFAULT_TIMEOUT_SECS: f64 = 600.0;
const DEFAULT_MAX_BODY_MB: f64 = 32.0;
/// Headers the gateway owns on the upstream connection; a config may not set them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
];

/// Problems and warnings gathered while building.
struct Report {
    problems: Vec<Problem>,
    /// Ignored LiteLLM key (as `section.key`) to the places it appears.
    ignored: BTreeMap<String, Vec<String>>,
}

impl Report {
    fn problem(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            at: at.into(),
            message: message.into(),
        });
    }

    /// Keeps the keys tollgate implements; LiteLLM's others are dropped with a
    /// warning, and keys nobody knows are problems.
    fn audit(&mut self, map: &mut Map<String, Value>, implemented: &[&str], known: &[&str], section: &str, at: &str) {
        map.retain(|key, _| {
            if implemented.contains(&key.as_str()) {
                return true;
            }
            if known.binary_search(&key.as_str()).is_ok() {
                self.ignored
                    .entry(format!("{section}{key}"))
                    .or_default()
                    .push(at.to_string());
            } else {
                self.problems.push(Problem {
                    at: at.to_string(),
                    message: format!("unknown key `{section}{key}` (neither LiteLLM's nor tollgate's)"),
                });
            }
            false
        });
    }

    fn warnings(&self) -> Vec<String> {
        self.ignored
            .iter()
            .map(|(key, places)| {
                let places: Vec<&str> = places.iter().filter(|p| !p.is_empty()).map(String::as_str).collect();
                let place = if places.is_empty() {
                    String::new()
                } else {
                    format!(" (in {})", places.join(", "))
                };
                format!("`{key}`{place} is a LiteLLM setting tollgate does not implement yet; it is ignored")
            })
            .collect()
    }
}

fn parse_yaml(text: &str) -> Result<Value, Problem> {
    let mut options = serde_saphyr::options::Options::default();
    // `yes`/`on` stay strings: only `true`/`false` are booleans.
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| Problem {
        at: "yaml".into(),
        message: e.to_string(),
    })
}

/// Deserializes an audited section into its typed form.
fn typed<T: DeserializeOwned>(value: Value, at: &str, report: &mut Report) -> Option<T> {
    serde_json::from_value(value)
        .map_err(|e| report.problem(at, e.to_string()))
        .ok()
}

/// A mapping, or a problem saying it should be one.
fn mapping(value: Value, at: &str, report: &mut Report) -> Option<Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        Value::Null => Some(Map::new()),
        other => {
            report.problem(at, format!("must be a mapping, found {}", kind(&other)));
            None
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A YAML scalar as the string LiteLLM would see.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Seconds given as a number or a numeric string, positive and finite.
fn seconds(v: &Value) -> Result<f64, String> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n > 0.0 => Ok(n),
        _ => Err(format!("must be a positive number of seconds, found {v}")),
    }
}

/// Loads a config from text; `base_dir` anchors relative `file:` references.
pub fn load_str(text: &str, base_dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, Vec<Problem>> {
    let mut report = Report {
        problems: Vec::new(),
        ignored: BTreeMap::new(),
    };
    let root = parse_yaml(text).map_err(|p| vec![p])?;
    let Value::Object(mut root) = root else {
        let found = kind(&root);
        return Err(vec![Problem {
            at: "config".into(),
            message: format!("must be a mapping with a `model_list`, found {found}"),
        }]);
    };
    const TOP: &[&str] = &[
        "model_list",
        "general_settings",
        "litellm_settings",
        "router_settings",
        "environment_variables",
        "tollgate",
    ];
    report.audit(&mut root, TOP, litellm::TOP_LEVEL, "", "config");

    let mut resolver = Resolver {
        env,
        config_env: environment_variables(root.remove("environment_variables"), &mut report),
        base_dir: base_dir.to_path_buf(),
        files_read: Vec::new(),
        fingerprint: sha2::Digest::chain_update(sha2::Sha256::default(), text.as_bytes()),
    };

    let general: raw::GeneralSettings = section(
        root.remove("general_settings"),
        &["master_key", "max_request_size_mb"],
        litellm::GENERAL_SETTINGS,
        "general_settings",
        &mut report,
    );
    let settings: raw::LitellmSettings = section(
        root.remove("litellm_settings"),
        &["request_timeout"],
        litellm::LITELLM_SETTINGS,
        "litellm_settings",
        &mut report,
    );
    let _router: Map<String, Value> = section(
        root.remove("router_settings"),
        &[],
        litellm::ROUTER_SETTINGS,
        "router_settings",
        &mut report,
    );
    let own: raw::TollgateSettings = section(
        root.remove("tollgate"),
        &["clients", "allow_unauthenticated"],
        &[],
        "tollgate",
        &mut report,
    );

    let default_timeout = match settings.request_timeout.as_ref().map(seconds) {
        None => DEFAULT_TIMEOUT_SECS,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            report.problem("litellm_settings.request_timeout", e);
            DEFAULT_TIMEOUT_SECS
        }
    };

    let deployments = model_list(root.remove("model_list"), default_timeout, &mut resolver, &mut report);
    let mut groups: HashMap<Arc<str>, Vec<Arc<Deployment>>> = HashMap::new();
    let mut model_names = Vec::new();
    for d in &deployments {
        let group = groups.entry(d.model_name.clone()).or_default();
        if group.is_empty() {
            model_names.push(d.model_name.clone());
        }
        group.push(d.clone());
    }

    let keys = keys(&general, own.clients, &groups, &mut resolver, &mut report);
    let max_mb = general.max_request_size_mb.unwrap_or(DEFAULT_MAX_BODY_MB);
    if !(max_mb.is_finite() && max_mb > 0.0) {
        report.problem(
            "general_settings.max_request_size_mb",
            "must be a positive number of MiB",
        );
    }

    if !report.problems.is_empty() {
        return Err(report.problems);
    }
    let warnings = report.warnings();
    Ok(Loaded {
        config: Config {
            deployments,
            groups,
            model_names,
            keys,
            max_body_bytes: (max_mb * 1024.0 * 1024.0) as usize,
            allow_unauthenticated: own.allow_unauthenticated,
            secret_files: resolver.files_read,
            fingerprint: sha2::Digest::finalize(resolver.fingerprint).into(),
        },
        warnings,
    })
}

/// Audits and parses one optional section; a broken section yields its default.
fn section<T: DeserializeOwned + Default>(
    value: Option<Value>,
    implemented: &[&str],
    known: &[&str],
    name: &str,
    report: &mut Report,
) -> T {
    let Some(mut map) = value.and_then(|v| mapping(v, name, report)) else {
        return T::default();
    };
    report.audit(&mut map, implemented, known, &format!("{name}."), "");
    typed(Value::Object(map), name, report).unwrap_or_default()
}

fn environment_variables(value: Option<Value>, report: &mut Report) -> Vec<(String, String)> {
    let Some(map) = value.and_then(|v| mapping(v, "environment_variables", report)) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (k, v) in map {
        match scalar(&v) {
            Some(s) => out.push((k, s)),
            None => report.problem(format!("environment_variables.{k}"), "must be a string"),
        }
    }
    out
}

fn model_list(
    value: Option<Value>,
    default_timeout: f64,
    resolver: &mut Resolver,
    report: &mut Report,
) -> Vec<Arc<Deployment>> {
    let entries = match value {
        Some(Value::Array(entries)) => entries,
        Some(Value::Null) | None => {
            report.problem("model_list", "is missing or empty: list at least one model");
            return vec![];
        }
        Some(other) => {
            report.problem("model_list", format!("must be a list, found {}", kind(&other)));
            return vec![];
        }
    };
    if entries.is_empty() {
        report.problem("model_list", "is empty: list at least one model");
    }
    let mut out = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let name = entry
            .get("model_name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let at = format!("model_list[{index}] ({name})");
        if let Some(d) = deployment(entry, index, &at, default_timeout, resolver, report) {
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
];

fn deployment(
    entry: Value,
    index: usize,
    at: &str,
    default_timeout: f64,
    resolver: &mut Resolver,
    report: &mut Report,
) -> Option<Deployment> {
    let mut entry = mapping(entry, at, report)?;
    report.audit(&mut entry, ENTRY_KEYS, litellm::MODEL_ENTRY, "", at);
    if let Some(params) = entry.get_mut("litellm_params") {
        match params {
            Value::Object(params) => report.audit(params, PARAM_KEYS, litellm::LITELLM_PARAMS, "litellm_params.", at),
            other => {
                report.problem(at, format!("litellm_params must be a mapping, found {}", kind(other)));
                return None;
            }
        }
    }
    let entry: raw::ModelEntry = typed(Value::Object(entry), at, report)?;
    let params = entry.litellm_params;
    let before = report.problems.len();

    let model_name = entry.model_name.trim();
    if model_name.is_empty() {
        report.problem(at, "model_name is empty");
    }
    let mut resolve = |field: &str, raw: &str, report: &mut Report| {
        resolver
            .resolve(raw)
            .map_err(|e| report.problem(format!("{at} litellm_params.{field}"), e))
            .ok()
    };
    // Each field is checked even when an earlier one failed, so one run reports every problem.
    let provider = resolve("model", &params.model, report).and_then(|model| {
        providers::parse_model(&model)
            .map(|(provider, upstream)| (provider, upstream.to_string()))
            .map_err(|e| report.problem(format!("{at} litellm_params.model"), e))
            .ok()
    });
    let api_key = params
        .api_key
        .as_ref()
        .and_then(|raw| resolve("api_key", raw, report))
        .map(Secret::new);
    let base = match (&params.api_base, provider.as_ref().map(|p| p.0)) {
        (Some(raw), _) => resolve("api_base", raw, report),
        (None, Some(provider)) => match provider.default_base {
            Some(default) => Some(default.to_string()),
            None => {
                let message = format!("provider `{}` needs an api_base", provider.name);
                report.problem(format!("{at} litellm_params.api_base"), message);
                None
            }
        },
        (None, None) => None,
    };
    let urls = base.and_then(|base| {
        upstream_urls(&base)
            .map_err(|e| report.problem(format!("{at} litellm_params.api_base"), e))
            .ok()
    });

    let mut headers = HeaderMap::new();
    for (field, map) in [("headers", &params.headers), ("extra_headers", &params.extra_headers)] {
        for (name, value) in map.iter().flatten() {
            let where_ = format!("{at} litellm_params.{field}.{name}");
            let Some(value) = scalar(value) else {
                report.problem(where_, "must be a string");
                continue;
            };
            let Some(value) = resolve(field, &value, report) else {
                continue;
            };
            match header(name, &value) {
                Ok((n, v)) => {
                    headers.insert(n, v);
                }
                Err(e) => report.problem(where_, e),
            }
        }
    }
    let timeout = match params.timeout.as_ref().map(seconds) {
        None => default_timeout,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            report.problem(format!("{at} litellm_params.timeout"), e);
            default_timeout
        }
    };
    let (Some((provider, upstream_model)), Some((urls, server_address))) = (provider, urls) else {
        return None;
    };
    if report.problems.len() > before {
        return None;
    }
    Some(Deployment {
        model_name: Arc::from(model_name),
        index,
        provider,
        upstream_model_json: Arc::from(serde_json::to_string(&upstream_model).unwrap_or_default()),
        upstream_model: Arc::from(upstream_model),
        urls,
        server_address: Arc::from(server_address),
        api_key,
        headers,
        timeout: Duration::from_secs_f64(timeout),
        mock_response: params.mock_response.map(Arc::from),
    })
}

/// Checks `api_base` and derives each endpoint's URL and the host.
fn upstream_urls(base: &str) -> Result<([Uri; 4], String), String> {
    let base = base.trim().trim_end_matches('/');
    // The value is never echoed: it may have come from a secret reference.
    let uri: Uri = base.parse().map_err(|_| "is not a URL".to_string())?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err("must start with http:// or https://".into()),
    }
    let host = uri.host().ok_or("has no host")?.to_string();
    if uri.query().is_some() || base.contains('#') {
        return Err("must not carry a query string or fragment".into());
    }
    let url = |e: Endpoint| {
        format!("{base}{}", e.suffix())
            .parse::<Uri>()
            .map_err(|e| e.to_string())
    };
    Ok((
        [
            url(Endpoint::ALL[0])?,
            url(Endpoint::ALL[1])?,
            url(Endpoint::ALL[2])?,
            url(Endpoint::ALL[3])?,
        ],
        host,
    ))
}

/// A configured header, its value marked sensitive so it is never logged.
fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| "is not a valid header name".to_string())?;
    if RESERVED_HEADERS.contains(&name.as_str()) {
        return Err("is set by the gateway itself and cannot be configured".into());
    }
    let mut value = HeaderValue::from_str(value).map_err(|_| "is not a valid header value".to_string())?;
    value.set_sensitive(true);
    Ok((name, value))
}

fn keys(
    general: &raw::GeneralSettings,
    clients: Vec<raw::ClientEntry>,
    groups: &HashMap<Arc<str>, Vec<Arc<Deployment>>>,
    resolver: &mut Resolver,
    report: &mut Report,
) -> Keys {
    let master = general.master_key.as_deref().and_then(|raw| {
        let key = resolver
            .resolve(raw)
            .map_err(|e| report.problem("general_settings.master_key", e))
            .ok()?;
        if key.is_empty() {
            report.problem("general_settings.master_key", "is empty");
            return None;
        }
        Some(Keys::digest(&key))
    });
    let mut names = HashSet::new();
    let mut digests: HashSet<[u8; 32]> = master.into_iter().collect();
    let mut out = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let at = format!("tollgate.clients[{i}] ({})", client.name);
        let name = client.name.trim();
        if name.is_empty() {
            report.problem(&at, "name is empty");
        } else if !names.insert(name.to_string()) {
            report.problem(&at, format!("the client name `{name}` is used twice"));
        }
        let digest = match (&client.key, &client.key_sha256) {
            (Some(raw), None) => match resolver.resolve(raw) {
                Ok(key) if key.is_empty() => {
                    report.problem(format!("{at} key"), "is empty");
                    None
                }
                Ok(key) => Some(Keys::digest(&key)),
                Err(e) => {
                    report.problem(format!("{at} key"), e);
                    None
                }
            },
            (None, Some(hex)) => match Keys::parse_hex_digest(hex) {
                Some(d) => Some(d),
                None => {
                    report.problem(
                        format!("{at} key_sha256"),
                        "must be 64 hexadecimal digits (sha256 of the key)",
                    );
                    None
                }
            },
            _ => {
                report.problem(&at, "give exactly one of `key` or `key_sha256`");
                None
            }
        };
        if let Some(d) = digest {
            if !digests.insert(d) {
                report.problem(&at, "this key is already used by the master key or another client");
            }
        }
        let models = client.models.map(|models| {
            for m in &models {
                if !groups.contains_key(m.as_str()) {
                    report.problem(
                        format!("{at} models"),
                        format!("`{m}` is not a model_name in model_list"),
                    );
                }
            }
            models.into_iter().map(Arc::from).collect()
        });
        if let Some(digest) = digest {
            out.push(ClientKey {
                name: Arc::from(name),
                digest,
                models,
            });
        }
    }
    Keys::new(master, out)
}
