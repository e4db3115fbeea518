//! OTLP export: the span and metric exporters (gRPC or HTTP/protobuf), their
//! HTTP transport on the gateway's own upstream client, and the task that
//! pushes the metrics. Nothing here runs on a request's path.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use opentelemetry::KeyValue;
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::tonic_types::transport::ClientTlsConfig;
use opentelemetry_otlp::{
    ExporterBuildError, MetricExporter, Protocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use tokio::sync::oneshot;

use super::names as n;
use super::settings::{Resolved, Signal, Wire};
use crate::upstream::Upstream;

/// How long one export may take before it counts as failed.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest collector response read.
const MAX_RESPONSE: usize = 1 << 20;

/// The span exporter for `settings`, counting its failed exports.
pub(super) fn spans(settings: &Resolved) -> Result<Counted<SpanExporter>, ExporterBuildError> {
    let endpoint = settings.endpoint(Signal::Traces);
    let exporter = match settings.wire(Signal::Traces) {
        Wire::Grpc => SpanExporter::builder()
            .with_tonic()
            .with_protocol(Protocol::Grpc)
            .with_endpoint(endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .with_metadata(metadata(settings))
            .with_tls_config(tls(&endpoint))
            .build()?,
        Wire::Http => SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(Transport::new(settings))
            .build()?,
    };
    Ok(Counted(exporter))
}

/// The metric exporter for `settings` (cumulative, like the Prometheus endpoint).
pub(super) fn metrics(settings: &Resolved) -> Result<MetricExporter, ExporterBuildError> {
    let endpoint = settings.endpoint(Signal::Metrics);
    match settings.wire(Signal::Metrics) {
        Wire::Grpc => MetricExporter::builder()
            .with_temporality(Temporality::Cumulative)
            .with_tonic()
            .with_protocol(Protocol::Grpc)
            .with_endpoint(endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .with_metadata(metadata(settings))
            .with_tls_config(tls(&endpoint))
            .build(),
        Wire::Http => MetricExporter::builder()
            .with_temporality(Temporality::Cumulative)
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(Transport::new(settings))
            .build(),
    }
}

fn metadata(settings: &Resolved) -> MetadataMap {
    MetadataMap::from_headers(settings.headers.clone())
}

/// TLS with the web PKI and system roots; plain for `http://` endpoints.
fn tls(endpoint: &str) -> ClientTlsConfig {
    let config = ClientTlsConfig::new();
    if endpoint.starts_with("https://") {
        config.with_enabled_roots()
    } else {
        config
    }
}

/// Pushes the metrics every `interval` until `stop`, then once more. It
/// reads the same cumulative numbers the Prometheus endpoint serves.
pub(super) async fn push(exporter: MetricExporter, interval: Duration, mut stop: oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut failing = false;
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = &mut stop => true,
        };
        let snapshot = super::metrics::state().reader.snapshot();
        let result = tokio::time::timeout(EXPORT_TIMEOUT, exporter.export(&snapshot)).await;
        match result {
            Ok(Ok(())) if failing => {
                failing = false;
                tracing::info!("metrics export works again");
            }
            Ok(Ok(())) => {}
            Ok(Err(error)) => failed(Signal::Metrics, &mut failing, &error.to_string()),
            Err(_) => failed(Signal::Metrics, &mut failing, "timed out"),
        }
        if last {
            let _ = exporter.shutdown();
            return;
        }
    }
}

/// Counts a failed export; says so once until it works again.
fn failed(signal: Signal, failing: &mut bool, error: &str) {
    count_failure(signal);
    if !*failing {
        *failing = true;
        tracing::warn!(
            signal = signal.label(),
            error,
            "OTLP export failed; retrying at the next interval"
        );
    }
}

fn count_failure(signal: Signal) {
    let m = &super::metrics::state().instruments;
    m.exports_failed.add(1, &[KeyValue::new(n::SIGNAL, signal.label())]);
}

/// A span exporter that counts its failed exports.
#[derive(Debug)]
pub(super) struct Counted<E>(E);

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter for Counted<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let export = self.0.export(batch);
        async move {
            let result = export.await;
            if result.is_err() {
                count_failure(Signal::Traces);
            }
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource)
    }
}

/// OTLP over HTTP on the gateway's own pooled hyper-rustls client. The SDK
/// exports from its own threads, so each request runs as a task on the
/// runtime `init` was called on. The config's headers go on every request
/// and win over `OTEL_EXPORTER_OTLP_HEADERS`.
#[derive(Clone)]
struct Transport {
    client: Upstream,
    runtime: tokio::runtime::Handle,
    headers: HeaderMap,
}

impl Transport {
    fn new(settings: &Resolved) -> Self {
        Transport {
            client: Upstream::new(),
            runtime: tokio::runtime::Handle::current(),
            headers: settings.headers.clone(),
        }
    }

    async fn send(self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (mut head, body) = request.into_parts();
        for (name, value) in &self.headers {
            head.headers.insert(name, value.clone());
        }
        let client = self.client;
        let exchange = async move {
            let response = client.send(Request::from_parts(head, Full::new(body))).await?;
            let (head, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE).collect().await?.to_bytes();
            Ok::<_, HttpError>(Response::from_parts(head, body))
        };
        // The timer is made inside the task: this thread has no runtime.
        let task = self
            .runtime
            .spawn(async move { tokio::time::timeout(EXPORT_TIMEOUT, exchange).await });
        match task.await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("OTLP export timed out".into()),
            Err(_) => Err("OTLP export task ended early".into()),
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be credentials: names only.
        let names: Vec<&str> = self.headers.keys().map(|k| k.as_str()).collect();
        f.debug_struct("Transport").field("headers", &names).finish()
    }
}

impl HttpClient for Transport {
    // `async_trait`'s form of `async fn send_bytes`, written out.
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.clone().send(request))
    }
}
