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
use crate::body::{frames, full, GatewayBody, Observed};
use crate::config::{Config, Deployment};
use crate::error::GatewayError;
use crate::providers::{openai, Endpoint};
use crate::record::Record;
use crate::reload::ConfigStatus;
use crate::request::{peek, read_body, rewrite_model};
use crate::router;
use crate::upstream::{self, Upstream};

/// The gateway's shared state: the current config and the upstream client.
pub struct Gateway {
    config: ArcSwap<Config>,
    upstream: Upstream,
    draining: AtomicBool,
    /// What the reloads did; read by readiness, written by the reloader.
    status: Mutex<ConfigStatus>,
}

/// What a path and method ask for.
enum Route {
    Api(Endpoint),
    Models,
    Liveliness,
    Readiness,
}

impl Gateway {
    pub fn new(config: Config) -> Self {
        Gateway {
            config: ArcSwap::from_pointee(config),
            upstream: Upstream::new(),
            draining: AtomicBool::new(false),
            status: Mutex::new(ConfigStatus::initial()),
        }
    }

    /// The config requests start with now.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Replaces the config; requests already running keep their snapshot.
    pub fn swap(&self, config: Config) {
        self.config.store(Arc::new(config));
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

    /// Marks the gateway as shutting down: readiness turns 503.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Serves one request. Never fails: errors become OpenAI-style responses.
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<GatewayBody> {
        let mut record = Record::start(request.method(), request.uri().path());
        let response = match self.forward(request, &mut record).await {
            Ok(response) => response,
            Err(error) => {
                record.error = Some(error.code());
                error.into_response()
            }
        };
        record.status = response.status().as_u16();
        response.map(|body| Observed::new(body, record).boxed_unsync())
    }

    async fn forward(
        &self,
        request: Request<Incoming>,
        record: &mut Record,
    ) -> Result<Response<GatewayBody>, GatewayError> {
        match route(request.method(), request.uri().path())? {
            Route::Liveliness => Ok(text(StatusCode::OK, "I'm alive!")),
            Route::Readiness => Ok(self.readiness()),
            Route::Models => {
                let config = self.config.load();
                let caller = config.keys.authenticate(request.headers())?;
                record.client = client_label(&caller);
                let names = config.model_names.iter().filter(|m| caller.may_use(m)).map(|m| &**m);
                Ok(json_response(StatusCode::OK, openai::model_list(names)))
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
        let body = read_body(body, &parts.headers, config.max_body_bytes).await?;
        let peeked = peek(&body)?;
        record.stream = peeked.stream;
        record.model = Some(peeked.model.clone());
        let group = config.group(&peeked.model).ok_or_else(|| GatewayError::UnknownModel {
            model: peeked.model.clone(),
        })?;
        if !caller.may_use(&peeked.model) {
            return Err(GatewayError::ModelNotAllowed { model: peeked.model });
        }
        let deployment = router::pick(group);
        record.deployment = Some(deployment.clone());
        if let Some(text) = &deployment.mock_response {
            return Ok(mock(endpoint, &deployment, text, peeked.stream));
        }
        let body = rewrite_model(&body, peeked.model_span, &deployment.upstream_model_json);
        let outbound = upstream::request(&deployment, endpoint, &parts.headers, body);
        let unreachable = |cause| GatewayError::UpstreamUnreachable {
            model: peeked.model.clone(),
            cause,
        };
        let response = match tokio::time::timeout(deployment.timeout, self.upstream.send(outbound)).await {
            Ok(Ok(response)) => response,
            Ok(Err(cause)) => return Err(unreachable(cause)),
            Err(_) => {
                let seconds = deployment.timeout.as_secs_f64();
                return Err(GatewayError::UpstreamTimeout {
                    model: peeked.model,
                    seconds,
                });
            }
        };
        let (mut head, body) = response.into_parts();
        upstream::strip_hop_by_hop(&mut head.headers);
        Ok(Response::from_parts(head, body.map_err(Into::into).boxed_unsync()))
    }

    fn readiness(&self) -> Response<GatewayBody> {
        let config = self.config.load();
        let draining = self.draining.load(Ordering::Relaxed);
        let body = json!({
            "status": if draining { "draining" } else { "healthy" },
            "models": config.model_names.len(),
            "deployments": config.deployments.len(),
            "config": self.status(),
        });
        let status = if draining {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        json_response(status, Bytes::from(body.to_string()))
    }
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
        "/models" => (Route::Models, Method::GET),
        _ => match path {
            "/health/liveliness" | "/health/liveness" => (Route::Liveliness, Method::GET),
            "/health/readiness" => (Route::Readiness, Method::GET),
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

fn client_label(caller: &Caller<'_>) -> Arc<str> {
    match caller {
        Caller::Client(c) => c.name.clone(),
        other => Arc::from(other.name()),
    }
}

/// Answers from `mock_response` without calling the provider.
fn mock(endpoint: Endpoint, deployment: &Deployment, text: &str, stream: bool) -> Response<GatewayBody> {
    let model = &deployment.upstream_model;
    if stream && openai::mock_streams(endpoint) {
        let mut response = Response::new(frames(openai::mock_stream(endpoint, model, text)));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return response;
    }
    json_response(StatusCode::OK, openai::mock_body(endpoint, model, text))
}

fn json_response(status: StatusCode, body: Bytes) -> Response<GatewayBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
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
