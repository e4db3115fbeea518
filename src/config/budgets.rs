//! Budget keys (LiteLLM's `max_budget`/`budget_duration`, `provider_budget_config`, `timezone`, and `tollgate.budgets`) taken out of the raw config and checked into `budget::Settings`.
//!
//! They are taken before the sections are audited, so the rest of the
//! loader never sees them: LiteLLM's keys here are implemented, not ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::build::{typed, Report};
use super::numbers::seconds;
use super::resolve::Resolver;
use crate::budget::{Action, Fleet, Period, Scope, Settings, Spec};
use crate::secret::Secret;

/// The largest limit accepted, in the reporting currency: anything above is
/// a typo (a missing decimal point), not a budget.
pub const MAX_AMOUNT: f64 = 1e9;

/// `tollgate.budgets`: where the fleet's spend is read, and what each budget
/// does at its limit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetsEntry {
    /// Base URL of a Prometheus-compatible HTTP API that scrapes every
    /// replica (`http://prometheus:9090`, as a Grafana data source takes it).
    /// Unset: each replica counts only its own spend, in memory, and a
    /// restart resets it.
    #[serde(default)]
    prometheus_url: Option<String>,
    /// Headers sent with every query (`Authorization`, `X-Scope-OrgID`);
    /// values may be `os.environ/NAME` or `file:/path`.
    #[serde(default)]
    prometheus_headers: Option<BTreeMap<String, String>>,
    /// Label matchers that select this fleet's series, e.g. `job="tollgate"`.
    #[serde(default)]
    prometheus_matchers: Option<String>,
    /// Seconds between two reads of the fleet's spend, at most 5 (default 5).
    #[serde(default)]
    refresh_interval: Option<Value>,
    /// Fractions of every budget's limit that log and count when reached,
    /// e.g. `[0.8]` (default none). They never refuse a request.
    #[serde(default)]
    soft_limits: Option<Vec<f64>>,
    /// What a budget does at its limit, by budget name: `gateway`,
    /// `provider:<name>`, `deployment:<model_list position>`, `client:<name>`.
    #[serde(default)]
    on_limit: Option<BTreeMap<String, OnLimit>>,
}

/// One budget's behaviour at its limit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnLimit {
    /// `reject` (default, as LiteLLM: 429 until the budget resets) or `fallback`.
    #[serde(default)]
    action: Option<String>,
    /// With `action: fallback`: the model group (a `model_name`) that takes
    /// the requests, e.g. a local model.
    #[serde(default)]
    fallback: Option<String>,
    /// This budget's soft thresholds, replacing `soft_limits`.
    #[serde(default)]
    soft_limits: Option<Vec<f64>>,
}

/// What the model list offers budgets: groups and providers.
#[derive(Default)]
struct Known {
    groups: BTreeSet<String>,
    /// Provider of each `model_list` entry (`None` when its model is invalid).
    providers: Vec<Option<&'static str>>,
}

/// Takes every budget key out of `root` and returns the checked budgets;
/// problems go to `report` under the key that has them.
pub(super) fn take(root: &mut Map<String, Value>, resolver: &mut Resolver, report: &mut Report) -> Settings {
    let mut known = Known::default();
    let mut specs = Vec::new();
    deployments(root, &mut known, &mut specs, report);
    let provider_config = section(root, "router_settings").and_then(|s| s.remove("provider_budget_config"));
    providers(provider_config, &known, &mut specs, report);
    clients(root, &mut specs, report);
    let (max, duration, zone) = match section(root, "litellm_settings") {
        Some(s) => (
            s.remove("max_budget"),
            s.remove("budget_duration"),
            s.remove("timezone"),
        ),
        None => (None, None, None),
    };
    let at = "litellm_settings";
    if let Some(spec) = budget(Scope::Gateway, max.as_ref(), duration.as_ref(), at, report) {
        specs.push(spec);
    }
    let zone = time_zone(zone, report);
    let currency = currency(root);
    let entry = section(root, "tollgate")
        .and_then(|s| s.remove("budgets"))
        .and_then(|v| typed::<Option<BudgetsEntry>>(v, "tollgate.budgets", report))
        .flatten()
        .unwrap_or_default();
    apply_on_limit(&entry, &known, &mut specs, report);
    let fleet = fleet(&entry, resolver, report);
    notes(&specs, fleet.as_ref(), report);
    Settings {
        budgets: specs,
        zone,
        fleet,
        currency,
    }
}

/// A section of the root as a mutable mapping, when it is one.
fn section<'a>(root: &'a mut Map<String, Value>, name: &str) -> Option<&'a mut Map<String, Value>> {
    root.get_mut(name).and_then(Value::as_object_mut)
}

/// `max_budget` and `budget_duration` of each `model_list` entry.
fn deployments(root: &mut Map<String, Value>, known: &mut Known, specs: &mut Vec<Spec>, report: &mut Report) {
    let Some(Value::Array(entries)) = root.get_mut("model_list") else {
        return;
    };
    let mut found = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        let name = entry
            .get("model_name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let params = entry.get_mut("litellm_params").and_then(Value::as_object_mut);
        let provider = params
            .as_ref()
            .and_then(|p| p.get("model"))
            .and_then(Value::as_str)
            .and_then(|m| crate::providers::parse_model(m).ok())
            .map(|(p, _)| p.name);
        known.groups.insert(name.clone());
        known.providers.push(provider);
        let Some(params) = params else { continue };
        let (max, duration) = (params.remove("max_budget"), params.remove("budget_duration"));
        if max.is_some() || duration.is_some() {
            found.push((i, name, provider, max, duration));
        }
    }
    for (index, name, provider, max, duration) in found {
        let at = format!("model_list[{index}] ({name}) litellm_params");
        // An entry with a broken model is reported by the model list itself.
        let Some(provider) = provider else { continue };
        let sole_of_provider = known.providers.iter().filter(|p| **p == Some(provider)).count() == 1;
        let scope = Scope::Deployment {
            index,
            model_name: name.into(),
            provider,
            sole_of_provider,
        };
        if let Some(spec) = budget(scope, max.as_ref(), duration.as_ref(), &at, report) {
            specs.push(spec);
        }
    }
}

/// `router_settings.provider_budget_config`: `{openai: {budget_limit: 10, time_period: 1d}}`.
fn providers(config: Option<Value>, known: &Known, specs: &mut Vec<Spec>, report: &mut Report) {
    let Some(config) = config else { return };
    let at = "router_settings.provider_budget_config";
    let Value::Object(config) = config else {
        report.problem(at, "must be a mapping of provider to `{budget_limit, time_period}`");
        return;
    };
    let in_use: BTreeSet<&str> = known.providers.iter().flatten().copied().collect();
    for (provider, entry) in config {
        let at = format!("{at}.{provider}");
        if !in_use.contains(provider.as_str()) {
            let listed: Vec<&str> = in_use.iter().copied().collect();
            let message = format!(
                "no model_list entry uses provider `{provider}` (in use: {})",
                listed.join(", ")
            );
            // LiteLLM's own example budgets providers the list does not use;
            // a name that is no provider at all is a typo.
            if is_litellm_provider(&provider) {
                report.note(format!("{at}: {message}; this budget is ignored"));
            } else {
                report.problem(&at, message);
            }
            continue;
        }
        let Value::Object(mut entry) = entry else {
            report.problem(&at, "must be a mapping with `budget_limit` and `time_period`");
            continue;
        };
        // LiteLLM reads either spelling.
        let max = either(&mut entry, "budget_limit", "max_budget", &at, report);
        let period = either(&mut entry, "time_period", "budget_duration", &at, report);
        for key in entry.keys() {
            report.problem(
                format!("{at}.{key}"),
                "unknown key (use `budget_limit` and `time_period`)",
            );
        }
        let scope = Scope::Provider(provider.as_str().into());
        if let Some(spec) = budget(scope, max.as_ref(), period.as_ref(), &at, report) {
            specs.push(spec);
        }
    }
}

/// A provider LiteLLM knows, whether or not tollgate speaks it.
fn is_litellm_provider(name: &str) -> bool {
    crate::providers::provider(name).is_some() || crate::providers::unsupported(&format!("{name}/m")).is_some()
}

/// One of two spellings of a key; both at once is a problem.
fn either(entry: &mut Map<String, Value>, a: &str, b: &str, at: &str, report: &mut Report) -> Option<Value> {
    match (entry.remove(a), entry.remove(b)) {
        (Some(_), Some(_)) => {
            report.problem(at, format!("give `{a}` or `{b}`, not both"));
            None
        }
        (x, y) => x.or(y),
    }
}

/// `max_budget` and `budget_duration` on each `tollgate.clients` entry.
fn clients(root: &mut Map<String, Value>, specs: &mut Vec<Spec>, report: &mut Report) {
    let Some(Value::Array(clients)) = section(root, "tollgate").and_then(|t| t.get_mut("clients")) else {
        return;
    };
    for (i, client) in clients.iter_mut().enumerate() {
        let name = client
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string();
        let Some(client) = client.as_object_mut() else { continue };
        let (max, duration) = (client.remove("max_budget"), client.remove("budget_duration"));
        if max.is_none() && duration.is_none() {
            continue;
        }
        let at = format!("tollgate.clients[{i}] ({name})");
        let scope = Scope::Client(name.as_str().into());
        if let Some(spec) = budget(scope, max.as_ref(), duration.as_ref(), &at, report) {
            specs.push(spec);
        }
    }
}

/// One budget from its amount and period; `None` (with a problem) when
/// either is missing or wrong.
fn budget(scope: Scope, max: Option<&Value>, period: Option<&Value>, at: &str, report: &mut Report) -> Option<Spec> {
    let (max_key, period_key) = match scope {
        Scope::Provider(_) => ("budget_limit", "time_period"),
        _ => ("max_budget", "budget_duration"),
    };
    let (max, period) = match (max, period) {
        (None, None) => return None,
        (Some(_), None) => {
            report.problem(
                format!("{at}.{period_key}"),
                format!("is needed with `{max_key}`: tollgate budgets reset each period (e.g. `1d` or `1mo`)"),
            );
            return None;
        }
        (None, Some(_)) => {
            report.problem(format!("{at}.{max_key}"), format!("is needed with `{period_key}`"));
            return None;
        }
        (Some(m), Some(p)) => (m, p),
    };
    let limit = amount(max).map_err(|e| report.problem(format!("{at}.{max_key}"), e));
    let period = match period {
        Value::String(s) => Period::parse(s),
        other => Err(format!("must be a period such as `1d` or `1mo`, found {other}")),
    }
    .map_err(|e| report.problem(format!("{at}.{period_key}"), e));
    Some(Spec {
        scope,
        limit: limit.ok()?,
        period: period.ok()?,
        action: Action::Reject,
        soft: Vec::new(),
    })
}

/// A limit: a number from 0 to [`MAX_AMOUNT`] (0 admits nothing, as in LiteLLM).
fn amount(v: &Value) -> Result<f64, String> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && (0.0..=MAX_AMOUNT).contains(&n) => Ok(n),
        Some(n) if n.is_finite() && n > MAX_AMOUNT => Err(format!(
            "{n} is beyond any plausible budget (at most {MAX_AMOUNT:e} in the reporting currency)"
        )),
        _ => Err(format!(
            "must be an amount from 0 to {MAX_AMOUNT:e} in the reporting currency, found {v}"
        )),
    }
}

fn time_zone(zone: Option<Value>, report: &mut Report) -> TimeZone {
    let at = "litellm_settings.timezone";
    match zone {
        None => TimeZone::UTC,
        Some(Value::String(name)) => TimeZone::get(name.trim()).unwrap_or_else(|_| {
            report.problem(
                at,
                format!("`{name}` is not an IANA time zone (e.g. `Europe/Berlin`, `UTC`)"),
            );
            TimeZone::UTC
        }),
        Some(other) => {
            report.problem(at, format!("must be an IANA time zone name, found {other}"));
            TimeZone::UTC
        }
    }
}

/// The reporting currency's code as the spend section gives it (checked there).
fn currency(root: &Map<String, Value>) -> Arc<str> {
    let code = root
        .get("tollgate")
        .and_then(|t| t.get("spend"))
        .and_then(|s| s.get("currency"))
        .and_then(Value::as_str)
        .unwrap_or("USD");
    code.to_ascii_uppercase().into()
}

/// Applies `tollgate.budgets.on_limit` and the default soft thresholds.
fn apply_on_limit(entry: &BudgetsEntry, known: &Known, specs: &mut [Spec], report: &mut Report) {
    let default_soft = soft(entry.soft_limits.as_deref(), "tollgate.budgets.soft_limits", report);
    for spec in specs.iter_mut() {
        spec.soft = default_soft.clone();
    }
    for (name, on) in entry.on_limit.iter().flatten() {
        let at = format!("tollgate.budgets.on_limit.{name}");
        let Some(spec) = specs.iter_mut().find(|s| s.scope.name() == *name) else {
            let names: Vec<String> = specs.iter().map(|s| s.scope.name()).collect();
            let names = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            };
            report.problem(&at, format!("no budget is named `{name}` (budgets: {names})"));
            continue;
        };
        if let Some(levels) = on.soft_limits.as_deref() {
            spec.soft = soft(Some(levels), &format!("{at}.soft_limits"), report);
        }
        spec.action = match (on.action.as_deref(), on.fallback.as_deref()) {
            (None | Some("reject"), None) => Action::Reject,
            (None | Some("fallback"), Some(group)) if known.groups.contains(group) => Action::Fallback(group.into()),
            (None | Some("fallback"), Some(group)) => {
                report.problem(
                    format!("{at}.fallback"),
                    format!("`{group}` is not a model_name in model_list"),
                );
                continue;
            }
            (Some("fallback"), None) => {
                report.problem(
                    format!("{at}.fallback"),
                    "is needed with `action: fallback`: name the model group",
                );
                continue;
            }
            (Some("reject"), Some(_)) => {
                report.problem(format!("{at}.fallback"), "goes with `action: fallback`, not `reject`");
                continue;
            }
            (Some(other), _) => {
                report.problem(
                    format!("{at}.action"),
                    format!("`{other}` is not `reject` or `fallback`"),
                );
                continue;
            }
        };
    }
}

/// Soft thresholds: fractions strictly between 0 and 1, sorted.
fn soft(levels: Option<&[f64]>, at: &str, report: &mut Report) -> Vec<f64> {
    let mut out = Vec::new();
    for &level in levels.unwrap_or_default() {
        if level.is_finite() && level > 0.0 && level < 1.0 {
            out.push(level);
        } else {
            report.problem(
                at,
                format!("{level} is not a fraction of the limit between 0 and 1 (e.g. 0.8)"),
            );
        }
    }
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

/// The fleet reader's settings, resolved.
fn fleet(entry: &BudgetsEntry, resolver: &mut Resolver, report: &mut Report) -> Option<Fleet> {
    let at = "tollgate.budgets";
    let raw = entry.prometheus_url.as_deref()?;
    let url = resolver
        .resolve(raw)
        .map_err(|e| report.problem(format!("{at}.prometheus_url"), e))
        .ok();
    let valid = |url: &str| {
        url.parse::<http::Uri>().ok().is_some_and(|u| {
            matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() && u.query().is_none()
        })
    };
    let url = url.filter(|url| {
        valid(url) || {
            report.problem(
                format!("{at}.prometheus_url"),
                "must be an http(s) base URL such as `http://prometheus:9090`",
            );
            false
        }
    });
    let mut headers = Vec::new();
    for (name, value) in entry.prometheus_headers.iter().flatten() {
        let key = format!("{at}.prometheus_headers.{name}");
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            report.problem(&key, "is not a valid header name");
            continue;
        }
        match resolver.resolve(value) {
            // The value is checked without being echoed: it may be a credential.
            Ok(v) if http::HeaderValue::from_str(&v).is_ok() => headers.push((name.clone(), Secret::new(v))),
            Ok(_) => report.problem(&key, "has a value that cannot be sent in a header"),
            Err(e) => report.problem(&key, e),
        }
    }
    let matchers = entry.prometheus_matchers.as_deref().map(str::trim);
    if matchers.is_some_and(|m| m.is_empty() || m.contains(['{', '}']) || !m.contains('=')) {
        report.problem(
            format!("{at}.prometheus_matchers"),
            "must be label matchers without braces, e.g. `job=\"tollgate\"`",
        );
    }
    let refresh = match entry.refresh_interval.as_ref().map(seconds) {
        None => crate::budget::fleet::DEFAULT_REFRESH,
        Some(Ok(s)) if s <= 5.0 => Duration::from_secs_f64(s),
        Some(Ok(s)) => {
            report.problem(
                format!("{at}.refresh_interval"),
                format!("{s} s is more than 5 s: a budget would lag too far"),
            );
            crate::budget::fleet::DEFAULT_REFRESH
        }
        Some(Err(e)) => {
            report.problem(format!("{at}.refresh_interval"), e);
            crate::budget::fleet::DEFAULT_REFRESH
        }
    };
    Some(Fleet {
        url: url?,
        headers,
        matchers: matchers.map(str::to_string),
        refresh,
    })
}

/// Warnings that do not stop the config: what a budget cannot know.
/// (A budget on an entry sharing its provider is read by the entry's
/// `tollgate_deployment` label, so it needs no note.)
fn notes(specs: &[Spec], fleet: Option<&Fleet>, report: &mut Report) {
    match (specs.is_empty(), fleet) {
        (true, Some(_)) => report.note("`tollgate.budgets.prometheus_url` is set but no budget is configured"),
        (false, None) => report.note(
            "budgets count this replica's spend only, in memory: a restart resets them and replicas do not share them (set `tollgate.budgets.prometheus_url` to enforce them fleet-wide)",
        ),
        _ => {}
    }
}
