//! The request path, as phases: route, authenticate, read the body, pick a
//! deployment, then answer (mock) or forward upstream and relay the answer.
//! `handle` never fails; `forward` returns a `GatewayError` that becomes a
//! response in one place.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;

use crate::auth::Caller;
use crate::body::{self, full, GatewayBody, Observed};
use crate::budget::Budgets;
use crate::config::{Config, DisabledReason};
use crate::error::{echo_model, GatewayError};
use crate::forward;
use crate::protocol::Format;
use crate::providers::{openai, Endpoint};
use crate::record::Record;
use crate::reload::ConfigStatus;
use crate::request::{peek, read_body, BodyLimits};
use crate::stream::UsageScan;
use crate::telemetry;
use crate::translate::UsageCell;
use crate::upstream::Upstream;

/// The gateway's shared state: the current config and the upstream client.
pub struct Gateway {
    config: ArcSwap<Config>,
    upstream: Upstream,
    draining: AtomicBool,
    /// What the reloads did; read by readiness, written by the reloader.
    status: Mutex<ConfigStatus>,
    /// `GET /metrics`, rendered at most once a second.
    metrics_page: MetricsPage,
    /// The body timeout and the memory budget all buffered bodies share.
    body_limits: BodyLimits,
    /// Spend budgets and their spend, kept across reloads.
    budgets: Arc<Budgets>,
}

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The API: model requests, model list, health.
    Api,
    /// The optional admin listener: health (and metrics) only, no key, no
    /// model routes, for probes and scrapers when the API listens on loopback.
    Admin,
}

/// What a path and method ask for.
enum Route {
    Api(Endpoint),
    Root,
    Models,
    Metrics,
    Liveliness,
    Readiness,
}

impl Gateway {
    /// A gateway with the default body limits ([`default_body_limits`]).
    pub fn new(config: Config) -> Self {
        let limits = default_body_limits(&config);
        Self::with_body_limits(config, limits)
    }

    pub fn with_body_limits(config: Config, body_limits: BodyLimits) -> Self {
        let budgets = Arc::new(Budgets::new(config.budgets.clone()));
        telemetry::watch_budgets(&budgets);
        Gateway {
            body_limits,
            budgets,
            config: ArcSwap::from_pointee(config),
            upstream: Upstream::new(),
            draining: AtomicBool::new(false),
            status: Mutex::new(ConfigStatus::initial()),
            metrics_page: MetricsPage::default(),
        }
    }

    /// The limits request bodies are read within.
    pub fn body_limits(&self) -> &BodyLimits {
        &self.body_limits
    }

    /// The config requests start with now.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Replaces the config; requests already running keep their snapshot.
    /// Budgets that stay keep their spend.
    pub fn swap(&self, config: Config) {
        self.budgets.update(config.budgets.clone());
        self.config.store(Arc::new(config));
    }

    /// The budget engine (for its fleet reader and tests).
    pub fn budgets(&self) -> &Arc<Budgets> {
        &self.budgets
    }

    /// The client the gateway sends upstream requests with.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// Changes the reload status; returns the config generation after it.
    pub fn update_status(&self, change: impl FnOnce(&mut ConfigStatus)) -> u64 {
        let mut status = self.status.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut status);
        status.generation
    }

    /// A copy of the reload status.
    pub fn status(&self) -> ConfigStatus {
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// How many times `/metrics` was rendered (each scrape within a second of
    /// a render is served the same page).
    pub fn metrics_renders(&self) -> u64 {
        self.metrics_page.renders.load(Ordering::Relaxed)
    }

    /// Marks the gateway as shutting down: readiness turns 503.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Serves one request. Never fails: errors become OpenAI-style responses.
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>, surface: Surface) -> Response<GatewayBody> {
        let mut record = Record::start(request.method(), request.uri());
        // Continues the client's W3C trace when it sent one (a no-op without trace export).
        record.span = telemetry::request_span(request.headers());
        let format = error_format(request.uri().path());
        let mut response = match self.forward(request, surface, &mut record).await {
            Ok(response) => response,
            Err(error) => {
                record.error = Some(error.code());
                error.into_response_as(format)
            }
        };
        record.status = response.status().as_u16();
        // An upstream answer carries the scan that reads its usage (`forward::attempt`).
        let scan = response.extensions_mut().remove::<UsageScan>();
        // A translated answer's usage comes from its decoder (`translate::Translated`).
        let translated = response.extensions_mut().remove::<Arc<UsageCell>>();
        response.map(|body| Observed::new(body, record, scan, translated).boxed_unsync())
    }

    async fn forward(
        &self,
        request: Request<Incoming>,
        surface: Surface,
        record: &mut Record,
    ) -> Result<Response<GatewayBody>, GatewayError> {
        let route = route(request.method(), request.uri().path())?;
        if surface == Surface::Admin && matches!(route, Route::Api(_) | Route::Models) {
            let (method, path) = (
                request.method().to_string(),
                request.uri().path().chars().take(200).collect(),
            );
            return Err(GatewayError::NotFound { method, path });
        }
        match route {
            // Claude Code checks the gateway is there with `HEAD /`.
            Route::Root => Ok(text(StatusCode::OK, "")),
            Route::Liveliness => Ok(text(StatusCode::OK, "I'm alive!")),
            Route::Readiness => Ok(self.readiness()),
            // No key: like health, it holds no secret and no request content
            // (its labels are configured names only); scrapers rarely carry keys.
            Route::Metrics => {
                let mut response = Response::new(full(self.metrics_page.get()));
                let content_type = HeaderValue::from_static(telemetry::PROMETHEUS_CONTENT_TYPE);
                response.headers_mut().insert(header::CONTENT_TYPE, content_type);
                Ok(response)
            }
            Route::Models => {
                let config = self.config.load();
                let caller = config.keys.authenticate(request.headers())?;
                record.client = client_label(&caller);
                let names = config.listed_names().filter(|m| caller.may_use(m));
                Ok(body::json(StatusCode::OK, openai::model_list(names, &config)))
            }
            Route::Api(endpoint) => self.proxy(endpoint, request, record).await,
        }
    }

    /// Phases of a model request. The config snapshot taken here serves the
    /// request to its end, even if a reload swaps the config meanwhile.
    async fn proxy(
        &self,
        endpoint: Endpoint,
        request: Request<Incoming>,
        record: &mut Record,
    ) -> Result<Response<GatewayBody>, GatewayError> {
        let config = self.config.load_full();
        record.endpoint = Some(endpoint);
        let (parts, body) = request.into_parts();
        // Authenticate before reading the body: an unauthenticated caller costs nothing.
        let caller = config.keys.authenticate(&parts.headers)?;
        record.client = client_label(&caller);
        let body = read_body(body, &parts.headers, config.max_body_bytes, &self.body_limits).await?;
        let peeked = peek(&body)?;
        record.stream = peeked.stream;
        record.model = Some(echo_model(&peeked.model));
        let Some(resolved) = config.resolve(&peeked.model) else {
            let model = echo_model(&peeked.model);
            return Err(match config.disabled_entry(&peeked.model) {
                Some(d) => match &d.reason {
                    DisabledReason::ProviderNotSupported => GatewayError::ProviderNotSupported {
                        model,
                        provider: d.provider,
                    },
                    DisabledReason::Unservable(reason) => GatewayError::DeploymentDisabled {
                        model,
                        provider: d.provider,
                        reason: reason.clone(),
                    },
                },
                None => GatewayError::UnknownModel { model },
            });
        };
        let group = resolved.group;
        // Metric labels use the configured name, never the raw request.
        record.requested_model = Some(group.clone());
        record.currency = config.currency.clone();
        telemetry::name_request(record);
        telemetry::record_prompt(&record.span, &body);
        // A client allowlist may name the group, or the alias or exact name it asked for.
        if !caller.may_use(group) && !caller.may_use(&peeked.model) {
            return Err(GatewayError::ModelNotAllowed {
                model: echo_model(&peeked.model),
            });
        }
        if !self.budgets.is_empty() {
            record.budgets = Some(self.budgets.clone());
        }
        let job = forward::Job {
            budgets: &self.budgets,
            config: &config,
            upstream: &self.upstream,
            endpoint,
            headers: &parts.headers,
            body: &body,
            peek: &peeked,
        };
        forward::run(&job, group, record).await
    }

    fn readiness(&self) -> Response<GatewayBody> {
        let config = self.config.load();
        let draining = self.draining.load(Ordering::Relaxed);
        let detail = json!({
            "status": if draining { "draining" } else { "healthy" },
            "models": config.model_names.len(),
            "deployments": config.deployments.len(),
            // Positions, not names: this endpoint is unauthenticated.
            "disabled": config.disabled.iter().map(|d| format!("model_list[{}] ({})", d.index, d.provider)).collect::<Vec<_>>(),
            "config": self.status(),
            "budgets": budget_state(&self.budgets),
        });
        let status = if draining {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        body::json(status, Bytes::from(detail.to_string()))
    }
}

/// The budgets' figures and where they come from, for readiness: a spent
/// budget is not an unhealthy replica, so this never changes the status.
fn budget_state(budgets: &Budgets) -> serde_json::Value {
    use crate::budget::fleet::Status;
    let snapshot = budgets.snapshot();
    if snapshot.budgets.is_empty() {
        return serde_json::Value::Null;
    }
    let source = match &snapshot.fleet {
        Status::Local => {
            json!({"state": "local", "note": "local only: each replica counts its own spend in memory, and a restart resets it"})
        }
        Status::Pending => json!({"state": "pending", "note": "the fleet's spend has not been read yet"}),
        Status::Fresh { at } => json!({"state": "fresh", "read_at": at}),
        Status::Stale { since, last_ok, error } => json!({
            "state": "stale",
            "since": since,
            "last_read_at": last_ok,
            "error": error,
            "note": "enforcing on the last fleet figure plus this replica's spend since",
        }),
    };
    let each: Vec<_> = snapshot
        .budgets
        .iter()
        .map(|g| {
            json!({
                "budget": &*g.budget,
                "limit": g.limit,
                "spent": g.spent,
                "remaining": g.remaining,
                "resets_at": g.period_end,
                "fleet_read": g.fleet_read,
            })
        })
        .collect();
    json!({"source": source, "budgets": each})
}

/// How long a client may take to send a request body, as nginx's
/// `client_body_timeout`.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The body limits when none are given: [`BODY_TIMEOUT`], and a budget of
/// 256 MiB or four bodies of the config's largest size, whichever is more.
pub fn default_body_limits(config: &Config) -> BodyLimits {
    let budget = (256 * 1024 * 1024).max(config.max_body_bytes.saturating_mul(4));
    BodyLimits::new(budget, BODY_TIMEOUT)
}

fn route(method: &Method, path: &str) -> Result<Route, GatewayError> {
    let api = path
        .strip_prefix("/v1")
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(path);
    let (route, allowed) = match api {
        "/chat/completions" => (Route::Api(Endpoint::ChatCompletions), Method::POST),
        "/completions" => (Route::Api(Endpoint::Completions), Method::POST),
        "/embeddings" => (Route::Api(Endpoint::Embeddings), Method::POST),
        "/responses" => (Route::Api(Endpoint::Responses), Method::POST),
        "/messages" => (Route::Api(Endpoint::Messages), Method::POST),
        "/messages/count_tokens" => (Route::Api(Endpoint::CountTokens), Method::POST),
        "/models" => (Route::Models, Method::GET),
        _ => match path {
            "/" => (Route::Root, Method::GET),
            "/health/liveliness" | "/health/liveness" => (Route::Liveliness, Method::GET),
            "/health/readiness" => (Route::Readiness, Method::GET),
            "/metrics" => (Route::Metrics, Method::GET),
            _ => {
                let path = path.chars().take(200).collect();
                return Err(GatewayError::NotFound {
                    method: method.to_string(),
                    path,
                });
            }
        },
    };
    if *method == allowed || (allowed == Method::GET && *method == Method::HEAD) {
        Ok(route)
    } else {
        Err(GatewayError::MethodNotAllowed {
            allowed: if allowed == Method::GET { "GET" } else { "POST" },
        })
    }
}

/// The error shape a path's clients read: Anthropic's on the Messages
/// routes, OpenAI's everywhere else (decided before routing, so even a 404
/// or 405 on those routes is in the right shape).
fn error_format(path: &str) -> Format {
    let api = path.strip_prefix("/v1").unwrap_or(path);
    if api == "/messages" || api.starts_with("/messages/") {
        Format::Anthropic
    } else {
        Format::Chat
    }
}

fn client_label(caller: &Caller<'_>) -> Arc<str> {
    match caller {
        Caller::Client(c) => c.name.clone(),
        Caller::Master => crate::record::shared_label("master"),
        Caller::Anonymous => crate::record::shared_label("anonymous"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<GatewayBody> {
    let mut response = Response::new(full(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The Prometheus page, kept for [`MetricsPage::FRESH_FOR`]: rendering walks
/// every series, and `/metrics` needs no key, so a scrape flood must not
/// turn into a render flood. Concurrent scrapes of a stale page wait for
/// one render rather than each doing their own.
#[derive(Default)]
struct MetricsPage {
    page: Mutex<Option<(std::time::Instant, Bytes)>>,
    renders: std::sync::atomic::AtomicU64,
}

impl MetricsPage {
    const FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(1);

    fn get(&self) -> Bytes {
        let mut page = self.page.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((at, bytes)) = page.as_ref() {
            if at.elapsed() < Self::FRESH_FOR {
                return bytes.clone();
            }
        }
        let bytes = Bytes::from(telemetry::render_prometheus());
        self.renders.fetch_add(1, Ordering::Relaxed);
        *page = Some((std::time::Instant::now(), bytes.clone()));
        bytes
    }
}
