//! The upstream client: one pooled hyper-rustls client for every provider
//! (HTTP/1.1 and HTTP/2 by ALPN, verified TLS), and the request it sends —
//! which client headers go along, which never do, and the configured key.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::Deployment;
use crate::providers::{Endpoint, Wire};

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

/// Response headers that describe the upstream hop, not the payload.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The shared, pooled upstream client. It outlives config reloads, so
/// connections to unchanged upstreams are reused.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Upstream {
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .build(https);
        Upstream { client }
    }

    /// Sends a request and waits for the response head.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Response<Incoming>, &'static str> {
        self.client.request(request).await.map_err(|e| {
            if e.is_connect() {
                "connection failed"
            } else {
                "connection closed before a response"
            }
        })
    }
}

impl Default for Upstream {
    fn default() -> Self {
        Self::new()
    }
}

/// TLS with the web PKI roots plus the system's (so an internal CA works).
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

/// Builds the upstream request for a deployment: its URL for `endpoint`,
/// the allowed client headers, its configured headers, and its key.
/// `passthrough` says the body is the client's own (not translated), so
/// headers describing its format go along too.
pub fn request(
    deployment: &Deployment,
    endpoint: Endpoint,
    client: &HeaderMap,
    body: Bytes,
    passthrough: bool,
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

/// Drops hop-by-hop headers from an upstream response before relaying it.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}
