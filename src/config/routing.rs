//! Routing settings: strategy, retries, fallbacks, cooldowns and timeouts,
//! merged from `router_settings` and `litellm_settings` as LiteLLM reads them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::build::Report;
use super::numbers::seconds_at;
use super::raw::RoutingEntry;
use super::Deployment;

/// How a deployment is chosen within a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Random, weighted by `weight`, else `rpm`, else `tpm`, else equal.
    SimpleShuffle,
    /// The deployment with the fewest requests in flight.
    LeastBusy,
    /// The deployment with the lowest recent latency.
    LatencyBased,
}

/// The error classes a retry policy distinguishes (LiteLLM's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    Authentication,
    Timeout,
    RateLimit,
    ContentPolicy,
    ContextWindow,
    InternalServer,
    BadRequest,
    NotFound,
}

/// Validated routing settings.
#[derive(Debug, Clone)]
pub struct Routing {
    pub strategy: Strategy,
    /// Retries within the group when the class has no policy entry.
    pub num_retries: u32,
    /// Retries per error class.
    pub retry_policy: HashMap<ErrorClass, u32>,
    pub fallbacks: HashMap<String, Vec<String>>,
    pub context_window_fallbacks: HashMap<String, Vec<String>>,
    pub content_policy_fallbacks: HashMap<String, Vec<String>>,
    pub default_fallbacks: Vec<String>,
    pub max_fallbacks: usize,
    /// Failures per minute a deployment may have before cooling down.
    pub allowed_fails: u32,
    pub cooldown: Duration,
    /// Longest silence between two stream chunks.
    pub stream_idle_timeout: Duration,
    /// `alias -> group`.
    pub aliases: HashMap<String, String>,
    /// Aliases left out of `/v1/models`.
    pub hidden_aliases: Vec<String>,
}

impl Routing {
    /// Retries allowed for an error class.
    pub fn retries_for(&self, class: ErrorClass) -> u32 {
        // A context-length error fails the same way on every retry. A client's
        // bad request or an unknown upstream model only when the policy says so.
        let default = match class {
            ErrorClass::ContextWindow => return 0,
            ErrorClass::BadRequest | ErrorClass::NotFound => 0,
            _ => self.num_retries,
        };
        self.retry_policy.get(&class).copied().unwrap_or(default)
    }

    /// The fallback groups for `group` after an error of `class`, in order.
    pub fn fallbacks_for(&self, group: &str, class: ErrorClass) -> Vec<&str> {
        let specific = match class {
            ErrorClass::ContextWindow => self.context_window_fallbacks.get(group),
            ErrorClass::ContentPolicy => self.content_policy_fallbacks.get(group),
            _ => None,
        };
        let list: Vec<&str> = match specific.or_else(|| self.fallbacks.get(group)) {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => self.default_fallbacks.iter().map(String::as_str).collect(),
        };
        list.into_iter()
            .filter(|f| *f != group)
            .take(self.max_fallbacks)
            .collect()
    }
}

/// Timeouts that entries without their own inherit.
pub(super) struct Defaults {
    pub timeout: f64,
    pub stream_timeout: Option<f64>,
}

const DEFAULT_TIMEOUT_SECS: f64 = 600.0;

/// Reads the entry-level defaults before the model list is built.
pub(super) fn defaults(router: &RoutingEntry, litellm: &RoutingEntry, report: &mut Report) -> Defaults {
    // Every value is checked, even one a higher-priority key overrides.
    let router_timeout = seconds_at(router.timeout.as_ref(), "router_settings.timeout", report);
    let request_timeout = seconds_at(
        litellm.request_timeout.as_ref(),
        "litellm_settings.request_timeout",
        report,
    );
    let litellm_timeout = seconds_at(litellm.timeout.as_ref(), "litellm_settings.timeout", report);
    let timeout = router_timeout
        .or(request_timeout)
        .or(litellm_timeout)
        .unwrap_or(DEFAULT_TIMEOUT_SECS);
    let router_stream = seconds_at(router.stream_timeout.as_ref(), "router_settings.stream_timeout", report);
    let litellm_stream = seconds_at(
        litellm.stream_timeout.as_ref(),
        "litellm_settings.stream_timeout",
        report,
    );
    let stream_timeout = router_stream.or(litellm_stream);
    Defaults {
        timeout,
        stream_timeout,
    }
}

fn fallback_map(list: Option<&Vec<std::collections::BTreeMap<String, Vec<String>>>>) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for map in list.into_iter().flatten() {
        for (group, targets) in map {
            out.entry(group.clone()).or_default().extend(targets.iter().cloned());
        }
    }
    out
}

/// Builds the routing settings; `groups` checks that fallbacks name real groups.
pub(super) fn routing(
    router: RoutingEntry,
    litellm: RoutingEntry,
    stream_idle: Option<&Value>,
    groups: &HashMap<Arc<str>, Vec<Arc<Deployment>>>,
    report: &mut Report,
) -> Routing {
    let strategy = match router.routing_strategy.as_deref() {
        None | Some("simple-shuffle") => Strategy::SimpleShuffle,
        Some("least-busy") => Strategy::LeastBusy,
        Some("latency-based-routing") => Strategy::LatencyBased,
        Some(other @ ("usage-based-routing" | "usage-based-routing-v2" | "cost-based-routing")) => {
            report.note(format!(
                "router_settings.routing_strategy `{other}` is not implemented yet; simple-shuffle is used"
            ));
            Strategy::SimpleShuffle
        }
        Some(_) => {
            report.problem(
                "router_settings.routing_strategy",
                "unknown strategy (simple-shuffle, least-busy, latency-based-routing)",
            );
            Strategy::SimpleShuffle
        }
    };
    let mut retry_policy = HashMap::new();
    for (name, n) in router.retry_policy.iter().flatten() {
        let class = match name.as_str() {
            "AuthenticationErrorRetries" => ErrorClass::Authentication,
            "TimeoutErrorRetries" => ErrorClass::Timeout,
            "RateLimitErrorRetries" => ErrorClass::RateLimit,
            "ContentPolicyViolationErrorRetries" => ErrorClass::ContentPolicy,
            "InternalServerErrorRetries" => ErrorClass::InternalServer,
            "BadRequestErrorRetries" => ErrorClass::BadRequest,
            other => {
                report.problem(
                    format!("router_settings.retry_policy.{other}"),
                    "is not a LiteLLM retry class",
                );
                continue;
            }
        };
        retry_policy.insert(class, *n);
    }
    let pick = |a: Option<&Vec<_>>, b: Option<&Vec<_>>| fallback_map(a.or(b));
    let fallbacks = pick(router.fallbacks.as_ref(), litellm.fallbacks.as_ref());
    let context_window_fallbacks = pick(
        router.context_window_fallbacks.as_ref(),
        litellm.context_window_fallbacks.as_ref(),
    );
    let content_policy_fallbacks = pick(
        router.content_policy_fallbacks.as_ref(),
        litellm.content_policy_fallbacks.as_ref(),
    );
    let default_fallbacks = router
        .default_fallbacks
        .clone()
        .or(litellm.default_fallbacks.clone())
        .unwrap_or_default();
    let mut aliases = HashMap::new();
    let mut hidden_aliases = Vec::new();
    for (alias, target) in router.model_group_alias.iter().flatten() {
        let (group, hidden) = match target {
            Value::String(g) => (g.clone(), false),
            Value::Object(o) => match o.get("model").and_then(Value::as_str) {
                Some(g) => (g.to_string(), o.get("hidden").and_then(Value::as_bool).unwrap_or(false)),
                None => {
                    report.problem(format!("router_settings.model_group_alias.{alias}"), "needs a `model`");
                    continue;
                }
            },
            _ => {
                report.problem(
                    format!("router_settings.model_group_alias.{alias}"),
                    "must name a model group",
                );
                continue;
            }
        };
        if hidden {
            hidden_aliases.push(alias.clone());
        }
        aliases.insert(alias.clone(), group);
    }
    // Fallbacks or aliases to groups that do not exist: LiteLLM starts anyway, so tollgate
    // does too, but says so.
    let named = fallbacks
        .iter()
        .chain(&context_window_fallbacks)
        .chain(&content_policy_fallbacks)
        .flat_map(|(from, to)| std::iter::once(from).chain(to))
        .chain(&default_fallbacks)
        .chain(aliases.values());
    let mut missing: Vec<&String> = named.filter(|g| !groups.contains_key(g.as_str())).collect();
    missing.sort();
    missing.dedup();
    for group in missing {
        report.note(format!(
            "routing names the model group `{group}`, which no model_list entry serves"
        ));
    }
    let cooldown = seconds_at(router.cooldown_time.as_ref(), "router_settings.cooldown_time", report)
        .or_else(|| seconds_at(litellm.cooldown_time.as_ref(), "litellm_settings.cooldown_time", report))
        .unwrap_or(5.0);
    let idle = seconds_at(stream_idle, "tollgate.stream_idle_timeout", report).unwrap_or(300.0);
    Routing {
        strategy,
        num_retries: router.num_retries.or(litellm.num_retries).unwrap_or(0),
        retry_policy,
        fallbacks,
        context_window_fallbacks,
        content_policy_fallbacks,
        default_fallbacks,
        max_fallbacks: router.max_fallbacks.or(litellm.max_fallbacks).unwrap_or(5) as usize,
        allowed_fails: router.allowed_fails.or(litellm.allowed_fails).unwrap_or(3),
        cooldown: Duration::from_secs_f64(cooldown),
        stream_idle_timeout: Duration::from_secs_f64(idle),
        aliases,
        hidden_aliases,
    }
}
