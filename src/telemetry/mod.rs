//! Telemetry: OpenTelemetry metrics and spans for every request, pushed over
//! OTLP when an endpoint is configured and served on `GET /metrics` always.
//!
//! Names live in [`names`]. Recording happens when a request's [`Record`]
//! is dropped, off the hot path of relaying bytes; export runs on the SDK's
//! threads and a background task, through bounded queues, so it never
//! blocks or slows a request.

mod budgets;
mod export;
mod metrics;
pub mod names;
mod prometheus;
mod settings;
mod traces;

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::{InstrumentationScope, KeyValue, StringValue};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tokio::sync::oneshot;

use crate::config::TelemetrySettings;
use crate::record::{Outcome, Record};

pub use budgets::watch_budgets;
pub use metrics::{
    config_loaded, record_reload, watch_cooldowns, watch_disabled, CooldownSource, DeploymentMetrics, DisabledSource,
};
pub use prometheus::CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE;
pub use traces::{attempt_span, inject_traceparent, name_request, record_prompt, request_span, Span};

/// Whether prompts may go on spans (`tollgate.telemetry.record_content`).
static RECORD_CONTENT: AtomicBool = AtomicBool::new(false);

fn records_content() -> bool {
    RECORD_CONTENT.load(Ordering::Relaxed)
}

/// The running exporters. [`Telemetry::shutdown`] flushes them; dropping
/// it without that flushes the spans but not the last metrics.
#[must_use = "dropping it stops the span export"]
pub struct Telemetry {
    /// Whether spans are being exported.
    traces: bool,
    push: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

/// Starts telemetry: resolves `settings` against the `OTEL_*` environment,
/// sets up the metrics (served by [`render_prometheus`] in any case) and,
/// when an OTLP endpoint is set and `OTEL_SDK_DISABLED` is not `true`, the
/// span and metric exporters. Call it once, on the Tokio runtime, after
/// `logging::init` (it logs where it exports to); without an endpoint it
/// exports and logs nothing.
pub fn init(settings: &TelemetrySettings) -> Telemetry {
    let resolved = settings::Resolved::new(settings, &|name| std::env::var(name).ok());
    RECORD_CONTENT.store(resolved.record_content, Ordering::Relaxed);
    let resource = resource(&resolved);
    if !metrics::install(resource.clone()) {
        tracing::warn!("telemetry was already started; keeping the first setup");
        return Telemetry {
            traces: false,
            push: None,
        };
    }
    config_loaded(1, true);
    let push = resolved.metrics.as_ref().and_then(|target| {
        let exporter = export::metrics(&resolved)
            .map_err(|error| tracing::error!(%error, "cannot export metrics over OTLP"))
            .ok()?;
        log_target("metrics", target);
        let (stop, stopped) = oneshot::channel();
        Some((stop, tokio::spawn(export::push(exporter, resolved.interval, stopped))))
    });
    let traces = resolved.traces.as_ref().is_some_and(|target| {
        let exporter = match export::spans(&resolved) {
            Ok(exporter) => exporter,
            Err(error) => {
                tracing::error!(%error, "cannot export traces over OTLP");
                return false;
            }
        };
        log_target("traces", target);
        // The batch processor's queue is bounded (OTEL_BSP_MAX_QUEUE_SIZE,
        // 2048): when full it drops and counts in otel.sdk.processor.span.processed.
        let provider = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_batch_exporter(exporter)
            .build();
        traces::start_export(provider);
        true
    });
    Telemetry { traces, push }
}

fn log_target(signal: &'static str, target: &settings::Target) {
    // Only scheme, host and port: a URL may carry credentials.
    let shown = target.endpoint.parse::<http::Uri>().ok().map(|uri| {
        let host = uri.host().unwrap_or("?");
        let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{host}{port}", uri.scheme_str().unwrap_or("?"))
    });
    let protocol = match target.wire {
        settings::Wire::Grpc => "grpc",
        settings::Wire::Http => "http/protobuf",
    };
    tracing::info!(
        signal,
        endpoint = shown.as_deref().unwrap_or("?"),
        protocol,
        "exporting over OTLP"
    );
}

fn resource(resolved: &settings::Resolved) -> Resource {
    let builder = Resource::builder().with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    match &resolved.service_name {
        Some(name) => builder.with_service_name(name.clone()).build(),
        None => builder.build(),
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(names::SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

impl Telemetry {
    /// Pushes the last metrics and flushes the queued spans (at most a few seconds).
    pub async fn shutdown(mut self) {
        if let Some((stop, task)) = self.push.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
        if std::mem::take(&mut self.traces) {
            // The SDK's shutdown blocks until its export thread is done.
            let _ = tokio::task::spawn_blocking(|| traces::shutdown(SHUTDOWN_TIMEOUT)).await;
        }
    }
}

/// How long shutdown may take to flush the queued spans.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

impl Drop for Telemetry {
    fn drop(&mut self) {
        if self.traces {
            traces::shutdown(SHUTDOWN_TIMEOUT);
        }
    }
}

/// The metrics in the Prometheus text format, for `GET /metrics`
/// (`Content-Type`: [`PROMETHEUS_CONTENT_TYPE`]).
pub fn render_prometheus() -> String {
    prometheus::render(&metrics::state().reader.snapshot())
}

/// Records how one upstream attempt ended, on its span (which it ends) and
/// in `tollgate.upstream.attempts`: the upstream's status when it answered,
/// or the gateway's error code (`upstream_timeout`, `upstream_unreachable`)
/// when it did not. Call it once per attempt, when the attempt is decided.
pub fn attempt_result(
    span: &Span,
    deployment: &crate::config::Deployment,
    status: Option<u16>,
    error: Option<&'static str>,
) {
    let status_error = status.filter(|s| *s >= 400).map(|s| Cow::Owned(s.to_string()));
    let error = error.map(Cow::Borrowed).or(status_error);
    traces::attempt_result(span, status, error.as_deref());
    metrics::attempt_finished(deployment, status, error.as_deref());
}

/// Counts a request as started; [`finish`] counts it as done.
pub(crate) fn request_started() {
    metrics::state().instruments.active.add(1, &[]);
}

/// Records a finished request that took `took`: in-flight count, metrics
/// and its span.
pub(crate) fn finish(record: &Record, took: Duration) {
    metrics::state().instruments.active.add(-1, &[]);
    let Some(endpoint) = record.endpoint else { return };
    let error = error_type(record);
    metrics::request_finished(record, endpoint.operation(), error.as_deref(), took);
    traces::finish(record, error.as_deref());
}

/// The configured model name the client asked for, or `_OTHER`: client
/// input never becomes a label value.
fn model_label(record: &Record) -> StringValue {
    match &record.requested_model {
        Some(name) => StringValue::from(name.clone()),
        None => StringValue::from(names::UNKNOWN_MODEL),
    }
}

/// `error.type`: the gateway's error code, the upstream status, or how the
/// body broke off; `None` when the request succeeded.
fn error_type(record: &Record) -> Option<Cow<'static, str>> {
    match record.outcome {
        Outcome::Open => Some(Cow::Borrowed("client_closed")),
        Outcome::UpstreamBroken => Some(Cow::Borrowed("upstream_broken")),
        Outcome::Completed => match record.error {
            Some(code) => Some(Cow::Borrowed(code)),
            None if record.status >= 400 => Some(Cow::Owned(record.status.to_string())),
            None => None,
        },
    }
}
