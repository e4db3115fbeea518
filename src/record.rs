//! The per-request record: what was asked, who served it, how it ended.
//! It is finished exactly once, when dropped (at the end of the response
//! body, or when the client goes away): it writes the access log line,
//! records the request's metrics and ends its span.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Deployment;
use crate::protocol::Format;
use crate::providers::Endpoint;
use crate::spend::{Currency, Usage};

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still open; if the record is dropped like this the client went away.
    Open,
    /// The whole response body was sent.
    Completed,
    /// The upstream's body broke off mid-way.
    UpstreamBroken,
}

/// Everything logged and measured about one request.
#[derive(Debug)]
pub struct Record {
    pub start: Instant,
    pub method: http::Method,
    /// The request's URI (its path is logged, cut at 200 bytes).
    pub uri: http::Uri,
    /// The model name the client asked for (raw client input: logged, never a label).
    pub model: Option<String>,
    /// The same name once the config knows it (`model_name`): the metric
    /// label. `None` for a name nobody configured, counted as `_OTHER`.
    pub requested_model: Option<Arc<str>>,
    /// The entry that served it.
    pub deployment: Option<Arc<Deployment>>,
    /// The caller's name (client label, `master` or `anonymous`).
    pub client: Arc<str>,
    /// The API endpoint, once routed (it names the client's format).
    pub endpoint: Option<Endpoint>,
    /// The format the provider was sent, when the request was translated
    /// (`None`: the client's own format went through).
    pub upstream_format: Option<Format>,
    /// Token usage reported by the provider (body or stream), when known.
    pub usage: Option<Usage>,
    /// Attempts that failed and were retried on the same model group.
    pub retries: u32,
    /// Times the request moved on to a fallback model group.
    pub fallbacks: u32,
    pub stream: bool,
    pub status: u16,
    /// The gateway's error code when the gateway answered with an error.
    pub error: Option<&'static str>,
    pub first_byte: Option<Instant>,
    pub bytes: u64,
    pub outcome: Outcome,
    /// The currency spend is reported in (the config's `tollgate.spend`).
    pub currency: Currency,
    /// The request's span (`telemetry::request_span`); ended on drop.
    pub span: crate::telemetry::Span,
    /// The budgets its cost counts against, when any are configured.
    pub budgets: Option<Arc<crate::budget::Budgets>>,
}

impl Record {
    /// Starts the record of a request. The URI is kept by reference count,
    /// not copied.
    pub fn start(method: &http::Method, uri: &http::Uri) -> Self {
        crate::telemetry::request_started();
        Record {
            start: Instant::now(),
            method: method.clone(),
            uri: uri.clone(),
            model: None,
            requested_model: None,
            deployment: None,
            client: shared_label("-"),
            endpoint: None,
            upstream_format: None,
            usage: None,
            retries: 0,
            fallbacks: 0,
            stream: false,
            status: 0,
            error: None,
            first_byte: None,
            bytes: 0,
            outcome: Outcome::Open,
            currency: Currency::usd(),
            span: crate::telemetry::Span::none(),
            budgets: None,
        }
    }

    /// How it ended, as a bounded label for logs and metrics.
    pub fn outcome_label(&self) -> &'static str {
        match self.outcome {
            Outcome::Open => "client_closed",
            Outcome::Completed if self.error.is_some() => "gateway_error",
            Outcome::Completed if self.status >= 400 => "upstream_error",
            Outcome::Completed => "ok",
            Outcome::UpstreamBroken => "upstream_broken",
        }
    }
}

/// The shared `Arc<str>` of a fixed caller label (`-`, `master`,
/// `anonymous`), so no request allocates one.
pub fn shared_label(label: &'static str) -> Arc<str> {
    static LABELS: std::sync::OnceLock<[Arc<str>; 3]> = std::sync::OnceLock::new();
    let labels = LABELS.get_or_init(|| [Arc::from("-"), Arc::from("master"), Arc::from("anonymous")]);
    labels
        .iter()
        .find(|l| &***l == label)
        .cloned()
        .unwrap_or_else(|| Arc::from(label))
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

impl Drop for Record {
    fn drop(&mut self) {
        // One reading of the clock for the log line and the metrics.
        let took = self.start.elapsed();
        let duration = micros(took);
        let ttfb = self.first_byte.map(|t| micros(t - self.start));
        let path = self.uri.path();
        crate::logging::access(&crate::logging::Access {
            method: self.method.as_str(),
            path: &path[..path.floor_char_boundary(200)],
            model: self.model.as_deref().unwrap_or("-"),
            upstream: self.deployment.as_ref().map_or("-", |d| &d.label),
            server: self.deployment.as_ref().map_or("-", |d| &d.server_address),
            client: &self.client,
            stream: self.stream,
            status: self.status,
            error: self.error.unwrap_or("-"),
            duration_us: duration,
            ttfb_us: ttfb,
            bytes: self.bytes,
            outcome: self.outcome_label(),
        });
        crate::telemetry::finish(self, took);
        // The same figure `tollgate_cost_total` just counted.
        if let (Some(budgets), Some(cost)) = (&self.budgets, crate::budget::cost_of(self)) {
            let keys = crate::budget::Keys {
                client: &self.client,
                group: self.requested_model.as_deref().unwrap_or(""),
                deployment: self.deployment.as_ref().map(|d| d.index),
                provider: self.deployment.as_ref().map(|d| d.provider.name),
            };
            budgets.record(&keys, cost);
        }
        // The deployment's `tpm` budget counts the tokens it served.
        if let (Some(deployment), Some(usage)) = (&self.deployment, &self.usage) {
            deployment.state.add_tokens(usage.input + usage.output);
        }
    }
}
