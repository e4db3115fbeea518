//! From YAML text to a `Config`: audit keys against LiteLLM's schema, parse
//! each section, resolve references, validate, and collect every problem.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::clients::keys;
use super::entry::model_list;
use super::litellm_keys as litellm;
use super::numbers;
use super::raw;
use super::resolve::Resolver;
use super::routing;
use super::settings;
use super::{Config, Deployment, Loaded, Problem};

const DEFAULT_MAX_BODY_MB: f64 = 32.0;

/// Problems and warnings gathered while building.
pub(super) struct Report {
    pub(super) problems: Vec<Problem>,
    /// Ignored LiteLLM key (as `section.key`) to the places it appears.
    pub(super) ignored: BTreeMap<String, Vec<String>>,
    /// Other things worth a warning that do not stop the config.
    pub(super) notes: Vec<String>,
    /// Entries loaded disabled.
    pub(super) disabled: Vec<super::Disabled>,
    /// Problems that make one `model_list` entry unservable without
    /// stopping the config (`deployment`'s rule); the entry loads disabled.
    pub(super) unservable: Vec<Problem>,
}

impl Report {
    pub(super) fn problem(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            at: at.into(),
            message: message.into(),
        });
    }

    /// A problem of one entry's values that LiteLLM would meet only when the
    /// entry is called: that entry loads disabled, the others serve.
    pub(super) fn unservable(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.unservable.push(Problem {
            at: at.into(),
            message: message.into(),
        });
    }

    /// A reference in an entry that did not resolve: an unset `os.environ/`
    /// variable makes only that entry unservable (LiteLLM fails it at call
    /// time); an unreadable `file:` secret stays a problem, so a reload
    /// during a rotation keeps the running config instead of dropping the
    /// entry (the file is watched: its arrival reloads).
    pub(super) fn unresolved(&mut self, at: impl Into<String>, raw: &str, message: impl Into<String>) {
        if super::resolve::names_variable(raw) {
            self.unservable(at, message);
        } else {
            self.problem(at, message);
        }
    }

    pub(super) fn note(&mut self, message: impl Into<String>) {
        self.notes.push(message.into());
    }

    /// Keeps the keys tollgate implements; LiteLLM's others are dropped with a
    /// warning, and keys nobody knows are problems.
    pub(super) fn audit(
        &mut self,
        map: &mut Map<String, Value>,
        implemented: &[&str],
        known: &[&str],
        section: &str,
        at: &str,
    ) {
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
                // A newer LiteLLM's key must not stop the gateway; a typo gets a hint.
                let hint = closest(key, implemented.iter().chain(known))
                    .map(|near| format!("; did you mean `{section}{near}`?"))
                    .unwrap_or_default();
                let place = if at.is_empty() {
                    String::new()
                } else {
                    format!("{at}: ")
                };
                self.notes.push(format!(
                    "{place}unknown key `{section}{key}` (neither LiteLLM's nor tollgate's) is ignored{hint}"
                ));
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
            .chain(self.notes.iter().cloned())
            .collect()
    }
}

/// The known key nearest `key` when it is near enough to be a typo of it.
pub(super) fn closest<'a>(key: &str, known: impl Iterator<Item = &'a &'a str>) -> Option<&'a str> {
    // One edit per five characters, at least one and at most three.
    let limit = (key.chars().count() / 5).clamp(1, 3);
    known
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

/// Edit distance over chars where swapping two neighbours is one edit
/// (`tiemout` is one from `timeout`), the optimal-string-alignment kind.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let at = |row: &[usize], j: usize| row.get(j).copied().unwrap_or(usize::MAX / 2);
    // Three rows: two back (for swaps), one back, and this one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut row = Vec::with_capacity(b.len() + 1);
        row.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let mut best = (at(&last, j + 1) + 1).min(at(&row, j) + 1).min(at(&last, j) + cost);
            let swapped = i > 0 && j > 0 && b.get(j - 1) == Some(ca) && a.get(i - 1) == Some(cb);
            if swapped {
                best = best.min(at(&before, j - 1) + 1);
            }
            row.push(best);
        }
        before = std::mem::replace(&mut last, row);
    }
    at(&last, b.len())
}

/// Deserializes an audited section into its typed form.
pub(super) fn typed<T: DeserializeOwned>(value: Value, at: &str, report: &mut Report) -> Option<T> {
    serde_json::from_value(value)
        .map_err(|e| report.problem(at, super::yaml::serde_message(&e.to_string())))
        .ok()
}

/// A mapping, or a problem saying it should be one.
pub(super) fn mapping(value: Value, at: &str, report: &mut Report) -> Option<Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        Value::Null => Some(Map::new()),
        other => {
            report.problem(at, format!("must be a mapping, found {}", kind(&other)));
            None
        }
    }
}

pub(super) fn kind(v: &Value) -> &'static str {
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
pub(super) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Loads a config from text; `base_dir` anchors relative `file:` references.
pub fn load_str(text: &str, base_dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, Vec<Problem>> {
    load_noting(text, base_dir, None, env, &mut Vec::new())
}

/// `load_str` that also lists every `file:` reference it met in `referenced`,
/// read or not, so a watcher can follow files of a config that failed.
pub fn load_noting(
    text: &str,
    base_dir: &Path,
    config_path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    referenced: &mut Vec<PathBuf>,
) -> Result<Loaded, Vec<Problem>> {
    let mut report = Report {
        problems: Vec::new(),
        ignored: BTreeMap::new(),
        notes: Vec::new(),
        disabled: Vec::new(),
        unservable: Vec::new(),
    };
    let (root, duplicate) = super::yaml::parse(text).map_err(|p| vec![p])?;
    report.notes.extend(duplicate);
    let Value::Object(mut root) = root else {
        let found = kind(&root);
        return Err(vec![Problem {
            at: "config".into(),
            message: format!("must be a mapping with a `model_list`, found {found}"),
        }]);
    };
    let mut fingerprint = sha2::Digest::chain_update(sha2::Sha256::default(), text.as_bytes());
    let included = super::include::merge(&mut root, base_dir, config_path, &mut fingerprint, &mut report);
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
        referenced: included.paths,
        fingerprint,
    };
    let budgets = super::budgets::take(&mut root, &mut resolver, &mut report);

    let general: raw::GeneralSettings = section(
        root.remove("general_settings"),
        &["master_key", "max_request_size_mb"],
        numbers::GENERAL,
        litellm::GENERAL_SETTINGS,
        "general_settings",
        &mut report,
    );
    const ROUTING: &[&str] = &[
        "num_retries",
        "retry_policy",
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "default_fallbacks",
        "max_fallbacks",
        "allowed_fails",
        "cooldown_time",
        "timeout",
        "stream_timeout",
    ];
    let router_keys: Vec<&str> = ROUTING
        .iter()
        .copied()
        .chain(["routing_strategy", "model_group_alias"])
        .collect();
    let litellm_keys: Vec<&str> = ROUTING.iter().copied().chain(["request_timeout"]).collect();
    let router: raw::RoutingEntry = section(
        root.remove("router_settings"),
        &router_keys,
        numbers::ROUTING,
        litellm::ROUTER_SETTINGS,
        "router_settings",
        &mut report,
    );
    let litellm_routing: raw::RoutingEntry = section(
        root.remove("litellm_settings"),
        &litellm_keys,
        numbers::ROUTING,
        litellm::LITELLM_SETTINGS,
        "litellm_settings",
        &mut report,
    );
    let own: raw::TollgateSettings = section(
        root.remove("tollgate"),
        &[
            "clients",
            "allow_unauthenticated",
            "telemetry",
            "spend",
            "stream_idle_timeout",
        ],
        numbers::TOLLGATE,
        &[],
        "tollgate",
        &mut report,
    );

    let defaults = routing::defaults(&router, &litellm_routing, &mut report);
    let deployments = model_list(root.remove("model_list"), &defaults, &mut resolver, &mut report);
    let mut groups: HashMap<Arc<str>, Vec<Arc<Deployment>>> = HashMap::new();
    let mut model_names = Vec::new();
    for d in &deployments {
        let group = groups.entry(d.model_name.clone()).or_default();
        if group.is_empty() {
            model_names.push(d.model_name.clone());
        }
        group.push(d.clone());
    }

    let mut wildcards: Vec<Arc<str>> = model_names.iter().filter(|n| n.contains('*')).cloned().collect();
    wildcards.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let routing = routing::routing(
        router,
        litellm_routing,
        own.stream_idle_timeout.as_ref(),
        &groups,
        &mut report,
    );
    let telemetry = settings::telemetry(own.telemetry, &mut resolver, &mut report);
    let currency = settings::currency(own.spend, &mut report);
    let keys = keys(&general, own.clients, &groups, &mut resolver, &mut report);
    // Bounded by `numbers::GENERAL`, so the product fits a usize.
    let max_mb = general.max_request_size_mb.unwrap_or(DEFAULT_MAX_BODY_MB);

    referenced.clone_from(&resolver.referenced);
    if !report.problems.is_empty() {
        return Err(report.problems);
    }
    let warnings = report.warnings();
    Ok(Loaded {
        config: Config {
            deployments,
            disabled: report.disabled.clone(),
            groups,
            wildcards,
            model_names,
            keys,
            max_body_bytes: (max_mb * 1024.0 * 1024.0) as usize,
            allow_unauthenticated: own.allow_unauthenticated,
            secret_files: resolver.files_read,
            fingerprint: sha2::Digest::finalize(resolver.fingerprint).into(),
            telemetry,
            currency,
            routing,
            budgets,
        },
        warnings,
    })
}

/// Audits, bounds the numbers of, and parses one optional section; a broken
/// section yields its default.
fn section<T: DeserializeOwned + Default>(
    value: Option<Value>,
    implemented: &[&str],
    bounds: &[(&str, numbers::Bound)],
    known: &[&str],
    name: &str,
    report: &mut Report,
) -> T {
    let Some(mut map) = value.and_then(|v| mapping(v, name, report)) else {
        return T::default();
    };
    report.audit(&mut map, implemented, known, &format!("{name}."), "");
    numbers::check(&mut map, bounds, &format!("{name}."), report);
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
            // LiteLLM skips an empty value (`KEY:` with nothing after it).
            None if v.is_null() => report.note(format!(
                "environment_variables.{k}: has no value; it is skipped (the process's own {k}, if any, is used)"
            )),
            None => report.problem(format!("environment_variables.{k}"), "must be a string"),
        }
    }
    out
}

#[cfg(test)]
mod suggest_tests {
    use super::{closest, edit_distance};

    #[test]
    fn typos_get_the_nearest_key() {
        assert_eq!(edit_distance("num_retires", "num_retries"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        let known = ["num_retries", "timeout", "fallbacks"];
        assert_eq!(closest("num_retires", known.iter()), Some("num_retries"));
        assert_eq!(closest("policies", known.iter()), None);
    }
}
