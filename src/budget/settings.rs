//! The budgets a config asks for, validated: what each covers, its limit, period and action, and where the fleet's spend is read.

use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;

use super::period::Period;
use crate::secret::Secret;

/// Every budget of one config, plus how to read the fleet's spend.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The budgets, most specific first (deployment, provider, client, gateway).
    pub budgets: Vec<Spec>,
    /// The zone periods are counted in (`litellm_settings.timezone`, UTC by default).
    pub zone: TimeZone,
    /// Where the fleet's spend is read; `None` counts this replica's alone.
    pub fleet: Option<Fleet>,
    /// ISO 4217 code of the reporting currency: limits are in it, and the
    /// fleet query counts only spend reported in it.
    pub currency: Arc<str>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            budgets: Vec::new(),
            zone: TimeZone::UTC,
            fleet: None,
            currency: "USD".into(),
        }
    }
}

impl Settings {
    /// Whether any budget is configured.
    pub fn is_empty(&self) -> bool {
        self.budgets.is_empty()
    }
}

/// What a budget covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every request (`litellm_settings.max_budget`).
    Gateway,
    /// Requests served by one provider (`router_settings.provider_budget_config`).
    Provider(Arc<str>),
    /// Requests served by one `model_list` entry, by position (`litellm_params.max_budget`).
    Deployment {
        /// Position in `model_list` (the `tollgate.deployment` label).
        index: usize,
        /// Its `model_name`, for messages.
        model_name: Arc<str>,
        /// Its provider: the fleet figure is read by provider.
        provider: &'static str,
        /// Whether no other entry has this provider: only then is the
        /// provider's spend this entry's spend.
        sole_of_provider: bool,
    },
    /// Requests of one client (`max_budget` on a `tollgate.clients` entry).
    Client(Arc<str>),
}

impl Scope {
    /// The budget's name in config keys, logs and gauges: `gateway`,
    /// `provider:openai`, `deployment:2`, `client:automation`.
    pub fn name(&self) -> String {
        match self {
            Scope::Gateway => "gateway".into(),
            Scope::Provider(p) => format!("provider:{p}"),
            Scope::Deployment { index, .. } => format!("deployment:{index}"),
            Scope::Client(c) => format!("client:{c}"),
        }
    }
}

/// What happens to a request once its budget is spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Refuse it (429 `budget_exceeded`, `Retry-After` to the reset): LiteLLM's behaviour.
    Reject,
    /// Send it to this model group instead (a cheaper or local one).
    Fallback(Arc<str>),
}

/// One budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// What it covers.
    pub scope: Scope,
    /// The most that may be spent per period, in the reporting currency.
    pub limit: f64,
    /// When the spend resets.
    pub period: Period,
    /// What happens once the spend reaches `limit`.
    pub action: Action,
    /// Fractions of `limit` that log and count when crossed (e.g. `0.8`), ascending.
    pub soft: Vec<f64>,
}

/// How to read the fleet's spend from a Prometheus-compatible HTTP API.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// The server's base URL as a Grafana data source takes it
    /// (`http://prometheus:9090`, `https://mimir/prometheus`).
    pub url: String,
    /// Headers on every query (auth, `X-Scope-OrgID`); values are secrets.
    pub headers: Vec<(String, Secret)>,
    /// Extra label matchers for this fleet's series (`job="tollgate"`).
    pub matchers: Option<String>,
    /// Longest time between two reads (at most 5 s); each wait is jittered below it.
    pub refresh: Duration,
}
