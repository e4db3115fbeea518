//! The upstream client: pooled hyper-rustls clients for every provider
//! (HTTP/1.1 and HTTP/2 by ALPN, verified TLS), the request it sends —
//! which client headers go along, which never do, and the configured key —
//! and which of the provider's response headers come back.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use thread_local::ThreadLocal;

use crate::config::Deployment;
use crate::providers::{Endpoint, Wire};

mod conn;
pub mod redact;

use conn::{Counting, Reuse};

/// Client headers that go upstream. Everything else stays behind: the
/// client's credentials (`authorization`, `x-api-key`, cookies), hop-by-hop
/// headers, and anything that could steer the provider account
/// (`openai-organization`, `openai-project`).
const FORWARDED: [HeaderName; 8] = [
    header::ACCEPT,
    header::CONTENT_TYPE,
    HeaderName::from_static("idempotency-key"),
    HeaderName::from_static("openai-beta"),
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
    header::USER_AGENT,
    HeaderName::from_static("x-request-id"),
];

/// Client headers that also go upstream when an Anthropic client's request
/// passes through to an Anthropic server unchanged: the API version it was
/// written for, and the beta features its body may use.
const FORWARDED_ANTHROPIC: [HeaderName; 2] = [
    HeaderName::from_static("anthropic-version"),
    HeaderName::from_static("anthropic-beta"),
];

/// Provider response headers that reach the client, on answers and on
/// errors alike; everything else stays behind (`set-cookie`, debug and
/// routing headers naming internal hosts, hop-by-hop headers).
enum Relayed {
    Name(HeaderName),
    /// Every header starting with this.
    Prefix(&'static str),
}

const RELAYED: [Relayed; 13] = [
    Relayed::Name(header::CONTENT_TYPE),
    Relayed::Name(header::CONTENT_LENGTH),
    // The body is relayed as sent, so its coding must be named.
    Relayed::Name(header::CONTENT_ENCODING),
    // SSE answers say `no-cache` so no intermediary holds them back.
    Relayed::Name(header::CACHE_CONTROL),
    Relayed::Name(header::RETRY_AFTER),
    Relayed::Name(HeaderName::from_static("retry-after-ms")),
    // The OpenAI SDKs read it to decide whether to retry.
    Relayed::Name(HeaderName::from_static("x-should-retry")),
    Relayed::Name(HeaderName::from_static("x-request-id")),
    Relayed::Name(HeaderName::from_static("request-id")),
    Relayed::Name(HeaderName::from_static("apim-request-id")),
    Relayed::Prefix("x-ratelimit-"),
    // Processing time, version, model, and (`anthropic-ratelimit-*`) limits.
    Relayed::Prefix("openai-"),
    Relayed::Prefix("anthropic-"),
];

/// Matched by a prefix above, but they name the gateway's provider account.
const WITHHELD: [HeaderName; 3] = [
    HeaderName::from_static("openai-organization"),
    HeaderName::from_static("openai-project"),
    HeaderName::from_static("anthropic-organization-id"),
];

fn relayed(name: &HeaderName) -> bool {
    let allowed = RELAYED.iter().any(|r| match r {
        Relayed::Name(n) => n == name,
        Relayed::Prefix(p) => name.as_str().starts_with(p),
    });
    allowed && !WITHHELD.contains(name)
}

/// The pooled upstream client. It outlives config reloads, so connections
/// to unchanged upstreams are reused.
///
/// Each thread that sends gets pools of its own. Serving thread-per-core,
/// a connection then lives on the core whose requests use it: its task is
/// never woken from the other core, and no pool lock is shared between
/// cores. Under the multi-threaded runtime it is one pool per worker.
#[derive(Clone)]
pub struct Upstream {
    connector: Counting,
    per_thread: Arc<ThreadLocal<Clients>>,
}

/// One thread's clients.
struct Clients {
    pooled: Client<Counting, Full<Bytes>>,
    /// Opens a new connection for each request and keeps none: for the one
    /// resend of a request a provider's close lost on a pooled connection.
    fresh: Client<Counting, Full<Bytes>>,
}

impl Clients {
    fn new(connector: &Counting) -> Self {
        let pooled = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .build(connector.clone());
        let fresh = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector.clone());
        Clients { pooled, fresh }
    }
}

impl Upstream {
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        http.set_keepalive(Some(Duration::from_secs(60)));
        // The TLS config (and the system's roots it reads) is built once
        // and shared by every thread's pools.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Upstream {
            connector: Counting(https),
            per_thread: Arc::new(ThreadLocal::new()),
        }
    }

    /// This thread's clients, made on its first request.
    fn clients(&self) -> &Clients {
        self.per_thread.get_or(|| Clients::new(&self.connector))
    }

    /// Sends the request `make` builds and waits for the response head.
    ///
    /// A provider may close a kept-alive connection right after answering
    /// without saying so; a request sent on it meanwhile is lost before the
    /// provider read it. When a connection that had already carried a
    /// response ends before any answer to the next request (end of stream:
    /// hyper's "connection closed before message completed"; a reset: the
    /// provider closed with our bytes unread; or a dispatch hyper
    /// cancelled), the request is built again and sent once on a new
    /// connection: that is not a retry and not a provider failure. The same
    /// end on a new connection is a failure: the provider may have read it.
    /// hyper-util resends by itself only requests the connection handed
    /// back unwritten (`retry_canceled_requests`); these were already
    /// written to the closed socket, so they come back as errors.
    pub async fn send_resending(
        &self,
        make: impl Fn() -> Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, &'static str> {
        let response = match self.clients().pooled.request(make()).await {
            Err(e) if lost_on_reused(&e) => self.clients().fresh.request(make()).await,
            other => other,
        };
        settle(response)
    }

    /// Sends a request once and waits for the response head.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Response<Incoming>, &'static str> {
        settle(self.clients().pooled.request(request).await)
    }
}

/// Names an error's cause.
fn settle(
    response: Result<Response<Incoming>, hyper_util::client::legacy::Error>,
) -> Result<Response<Incoming>, &'static str> {
    response.map_err(|e| {
        if e.is_connect() {
            "connection failed"
        } else {
            "connection closed before a response"
        }
    })
}

/// Whether the request was lost to a close of a connection that had
/// already carried a response, before any answer to it arrived.
fn lost_on_reused(error: &hyper_util::client::legacy::Error) -> bool {
    // HTTP/2 says which streams a closing server left unread (GOAWAY);
    // hyper handles those. Only HTTP/1.1 leaves it to the client.
    let reused = error.connect_info().is_some_and(|info| {
        let mut extensions = http::Extensions::new();
        info.get_extras(&mut extensions);
        !info.is_negotiated_h2() && extensions.get::<Reuse>().is_some_and(Reuse::reused)
    });
    let first: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    let closed = std::iter::successors(first, |e| e.source()).any(|e| {
        let hyper_closed = e
            .downcast_ref::<hyper::Error>()
            .is_some_and(|e| e.is_incomplete_message() || e.is_canceled());
        // A peer that closes with bytes unread answers them with a reset:
        // the request was not read, let alone served.
        let reset = e.downcast_ref::<std::io::Error>().is_some_and(|e| {
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            )
        });
        hyper_closed || reset
    });
    reused && closed
}

impl Default for Upstream {
    fn default() -> Self {
        Self::new()
    }
}

/// TLS with the web PKI roots plus the system's (so an internal CA works).
#[allow(
    clippy::expect_used,
    reason = "runs once at start-up, not per request, and ring implements every default TLS version"
)]
fn tls_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The fetched token a deployment authenticates with, if it uses one
/// (`Deployment::credential`): at once when a valid one is cached, else
/// after the token endpoint answered, or by `deadline`.
pub async fn credential(
    deployment: &Deployment,
    upstream: &Upstream,
    deadline: tokio::time::Instant,
) -> Result<Option<HeaderValue>, &'static str> {
    let Some(source) = &deployment.credential else {
        return Ok(None);
    };
    match tokio::time::timeout_at(deadline, source.header(upstream)).await {
        Ok(header) => header.map(Some),
        Err(_) => Err("no Entra ID token within the request's timeout"),
    }
}

/// Builds the upstream request for a deployment: its URL for `endpoint`,
/// the allowed client headers, its configured headers, and its key (or the
/// fetched `token`, from `credential`). `passthrough` says the body is the
/// client's own (not translated), so headers describing its format go along too.
pub fn request(
    deployment: &Deployment,
    endpoint: Endpoint,
    client: &HeaderMap,
    body: Bytes,
    passthrough: bool,
    token: Option<&HeaderValue>,
) -> Request<Full<Bytes>> {
    let mut headers = HeaderMap::with_capacity(FORWARDED.len() + deployment.headers.len() + 3);
    let anthropic = deployment.provider.wire == Wire::Anthropic;
    let format_headers: &[HeaderName] = if anthropic && passthrough {
        &FORWARDED_ANTHROPIC
    } else {
        &[]
    };
    for name in FORWARDED.iter().chain(format_headers) {
        for value in client.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    for (name, value) in &deployment.headers {
        headers.insert(name.clone(), value.clone());
    }
    if let Some((name, value)) = &deployment.authorization {
        headers.insert(name.clone(), value.clone());
    }
    if let Some(token) = token {
        headers.insert(header::AUTHORIZATION, token.clone());
    }
    if anthropic && !headers.contains_key(&FORWARDED_ANTHROPIC[0]) {
        let version = HeaderValue::from_static(crate::providers::ANTHROPIC_VERSION);
        headers.insert(FORWARDED_ANTHROPIC[0].clone(), version);
    }
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = deployment.url(endpoint).clone();
    *request.headers_mut() = headers;
    request
}

/// Keeps only the provider response headers a client may see (`RELAYED`).
pub fn keep_relayed(headers: &mut HeaderMap) {
    let all = std::mem::take(headers);
    let mut name = None;
    for (next, value) in all {
        // `into_iter` names a header once, before all its values.
        if next.is_some() {
            name = next.filter(relayed);
        }
        if let Some(name) = &name {
            headers.append(name.clone(), value);
        }
    }
}
