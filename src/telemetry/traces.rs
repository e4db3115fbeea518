//! Spans: one per model request (`chat {model}`), continuing the client's
//! W3C trace, and one per upstream attempt beneath it, whose context goes
//! upstream. They are OpenTelemetry SDK spans, made only while an exporter
//! runs: without one a [`Span`] is empty and costs nothing.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use super::names as n;
use crate::config::Deployment;
use crate::providers::Endpoint;
use crate::record::Record;

/// The most attributes a request span gets (`finish`, `record_prompt`).
const REQUEST_ATTRIBUTES: usize = 26;

/// The exporting provider and its tracer, once `telemetry::init` starts one.
static TRACING: OnceLock<(SdkTracerProvider, SdkTracer)> = OnceLock::new();

/// A span being recorded, or nothing when traces are not exported. Dropping
/// it ends the span.
///
/// A request's span starts (back-dated to the request's start) only once
/// the request turns out to be a model request, so health checks and
/// scrapes export nothing.
#[derive(Debug, Default)]
pub struct Span(Option<Lazy>);

#[derive(Debug)]
struct Lazy {
    /// The client's trace context (or none), the parent to start under.
    parent: Context,
    /// When the request came in.
    start: SystemTime,
    /// The span, once started.
    started: OnceLock<Context>,
}

impl Span {
    /// No span: what every request has while traces are not exported.
    pub fn none() -> Span {
        Span(None)
    }

    /// Whether this span is recorded (traces are exported).
    pub fn is_recording(&self) -> bool {
        self.0.is_some()
    }

    /// The started span's context, if it started.
    fn context(&self) -> Option<&Context> {
        self.0.as_ref()?.started.get()
    }

    /// The context, starting the span as a server span named by `name` if
    /// it has not started yet.
    fn start(&self, name: impl FnOnce() -> String) -> Option<&Context> {
        let (lazy, tracer) = (self.0.as_ref()?, tracer()?);
        Some(lazy.started.get_or_init(|| {
            // Room for every attribute `finish` sets: the span keeps this
            // vector, which would otherwise grow one push at a time.
            let span = tracer
                .span_builder(name())
                .with_kind(SpanKind::Server)
                .with_start_time(lazy.start)
                .with_attributes(Vec::with_capacity(REQUEST_ATTRIBUTES))
                .start_with_context(tracer, &lazy.parent);
            lazy.parent.with_span(span)
        }))
    }

    /// A span started already (an attempt's).
    fn of(cx: Context) -> Span {
        let started = OnceLock::new();
        let _ = started.set(cx);
        Span(Some(Lazy {
            parent: Context::new(),
            start: SystemTime::now(),
            started,
        }))
    }
}

/// Exports spans through `provider` from now on.
pub(super) fn start_export(provider: SdkTracerProvider) {
    let tracer = provider.tracer_with_scope(super::scope());
    let _ = TRACING.set((provider, tracer));
}

/// Exports what is queued and stops (blocks up to `timeout`).
pub(super) fn shutdown(timeout: Duration) {
    if let Some((provider, _)) = TRACING.get() {
        let _ = provider.shutdown_with_timeout(timeout);
    }
}

fn tracer() -> Option<&'static SdkTracer> {
    TRACING.get().map(|(_, tracer)| tracer)
}

/// The span of one request (kind server), a child of the client's
/// `traceparent` when it sent one. It starts as a model request's span
/// ([`name_request`], an attempt, or the request's end) and ends when the
/// request's record is finished; other requests export nothing.
pub fn request_span(headers: &HeaderMap) -> Span {
    if tracer().is_none() {
        return Span::none();
    }
    Span(Some(Lazy {
        parent: TraceContextPropagator::new().extract(&HeaderExtractor(headers)),
        start: SystemTime::now(),
        started: OnceLock::new(),
    }))
}

/// Names the request span `{operation} {model}`, semconv's span name, from
/// `record.endpoint` and `record.requested_model` (`_OTHER` for a name
/// nobody configured), starting it if it has not started.
pub fn name_request(record: &Record) {
    let Some(endpoint) = record.endpoint else { return };
    let operation = endpoint.operation();
    let name = || match record.model {
        Some(_) => format!("{operation} {}", super::model_label(record)),
        None => operation.to_owned(),
    };
    match record.span.context() {
        Some(cx) => cx.span().update_name(name()),
        None => {
            record.span.start(name);
        }
    }
}

/// Puts the prompt (`messages`, `input` or `prompt` of the request body) on
/// the span, only when `tollgate.telemetry.record_content` is on.
pub fn record_prompt(span: &Span, body: &[u8]) {
    let Some(cx) = span.context() else { return };
    if !super::records_content() {
        return;
    }
    #[derive(serde::Deserialize)]
    struct Prompt<'a> {
        #[serde(borrow, default)]
        messages: Option<&'a serde_json::value::RawValue>,
        #[serde(borrow, default)]
        input: Option<&'a serde_json::value::RawValue>,
        #[serde(borrow, default)]
        prompt: Option<&'a serde_json::value::RawValue>,
    }
    if let Ok(p) = serde_json::from_slice::<Prompt>(body) {
        if let Some(raw) = p.messages.or(p.input).or(p.prompt) {
            cx.span()
                .set_attribute(KeyValue::new(n::INPUT_MESSAGES, raw.get().to_owned()));
        }
    }
}

/// The span of one upstream attempt (`{operation} {upstream model}`, kind
/// client) under the request span. `telemetry::attempt_result` ends it.
pub fn attempt_span(parent: &Span, endpoint: Endpoint, deployment: &Deployment, attempt: u32) -> Span {
    let operation = endpoint.operation();
    let (Some(tracer), Some(parent)) = (tracer(), parent.start(|| operation.to_owned())) else {
        return Span::none();
    };
    let span = tracer
        .span_builder(format!("{operation} {}", deployment.upstream_model))
        .with_kind(SpanKind::Client)
        .with_attributes({
            // Room for the status and error `attempt_result` adds.
            let mut attributes = Vec::with_capacity(7);
            attributes.extend([
                KeyValue::new(n::OPERATION_NAME, operation),
                KeyValue::new(n::PROVIDER_NAME, deployment.provider.name),
                KeyValue::new(n::REQUEST_MODEL, deployment.upstream_model.clone()),
                KeyValue::new(n::SERVER_ADDRESS, deployment.server_address.clone()),
                KeyValue::new(n::ATTEMPT, i64::from(attempt)),
            ]);
            attributes
        })
        .start_with_context(tracer, parent);
    Span::of(parent.with_span(span))
}

/// Puts how an attempt ended on its span, and ends it: a backoff before
/// the next attempt is not part of this one.
pub(super) fn attempt_result(span: &Span, status: Option<u16>, error: Option<&str>) {
    let Some(cx) = span.context() else { return };
    let otel = cx.span();
    if let Some(status) = status {
        otel.set_attribute(KeyValue::new(n::HTTP_STATUS_CODE, i64::from(status)));
    }
    if let Some(error) = error {
        otel.set_attribute(KeyValue::new(n::ERROR_TYPE, error.to_owned()));
        otel.set_status(Status::error(error.to_owned()));
    }
    otel.end();
}

/// Sets `traceparent` (and `tracestate`) of the upstream request to the
/// span's context. Without trace export this leaves the headers alone, so
/// a client's own `traceparent` still goes upstream.
pub fn inject_traceparent(span: &Span, headers: &mut HeaderMap) {
    if let Some(cx) = span.context() {
        TraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(headers));
    }
}

/// Ends the request span with the response's attributes and usage.
pub(super) fn finish(record: &Record, error: Option<&str>) {
    if record.span.context().is_none() {
        // Never named nor tried: an error before routing. Start it now.
        name_request(record);
    }
    let Some(cx) = record.span.context() else { return };
    if !cx.span().is_recording() {
        // Not sampled (`OTEL_TRACES_SAMPLER`): nothing to describe.
        return;
    }
    let mut attributes = Vec::with_capacity(REQUEST_ATTRIBUTES);
    attributes.extend([
        KeyValue::new(n::REQUEST_MODEL, super::model_label(record)),
        KeyValue::new(n::CLIENT, record.client.clone()),
        KeyValue::new(n::HTTP_STATUS_CODE, i64::from(record.status)),
        KeyValue::new(n::STREAM, record.stream),
        KeyValue::new(n::OUTCOME, record.outcome_label()),
    ]);
    if let Some(endpoint) = record.endpoint {
        attributes.push(KeyValue::new(n::OPERATION_NAME, endpoint.operation()));
        if let Some(format) = endpoint.format() {
            attributes.push(KeyValue::new(n::CLIENT_FORMAT, format.name()));
            let upstream = record.upstream_format.unwrap_or(format);
            attributes.push(KeyValue::new(n::UPSTREAM_FORMAT, upstream.name()));
        }
    }
    if let Some(d) = &record.deployment {
        attributes.push(KeyValue::new(n::PROVIDER_NAME, d.provider.name));
        attributes.push(KeyValue::new(n::RESPONSE_MODEL, d.upstream_model.clone()));
        attributes.push(KeyValue::new(n::SERVER_ADDRESS, d.server_address.clone()));
        if let (Some(price), Some(usage)) = (&d.price, &record.usage) {
            let cost = record.currency.convert(crate::spend::cost_usd(price, usage));
            attributes.push(KeyValue::new(n::COST, cost));
            attributes.push(KeyValue::new(n::CURRENCY, record.currency.code.clone()));
        }
    }
    if let Some(u) = &record.usage {
        let tokens = |count: u64| i64::try_from(count).unwrap_or(i64::MAX);
        attributes.push(KeyValue::new(n::USAGE_INPUT_TOKENS, tokens(u.input)));
        attributes.push(KeyValue::new(n::USAGE_OUTPUT_TOKENS, tokens(u.output)));
        for (key, count) in [
            (n::USAGE_CACHE_READ_TOKENS, u.cached_input),
            (n::USAGE_CACHE_CREATION_TOKENS, u.cache_write),
            (n::USAGE_REASONING_TOKENS, u.reasoning),
        ] {
            if count > 0 {
                attributes.push(KeyValue::new(key, tokens(count)));
            }
        }
    }
    if record.stream {
        if let Some(first) = record.first_byte {
            let seconds = first.saturating_duration_since(record.start).as_secs_f64();
            attributes.push(KeyValue::new(n::RESPONSE_TIME_TO_FIRST_CHUNK, seconds));
        }
    }
    if record.retries > 0 {
        attributes.push(KeyValue::new(n::RETRIES, i64::from(record.retries)));
    }
    if record.fallbacks > 0 {
        attributes.push(KeyValue::new(n::FALLBACKS, i64::from(record.fallbacks)));
    }
    if let Some(error) = error {
        attributes.push(KeyValue::new(n::ERROR_TYPE, error.to_owned()));
    }
    let span = cx.span();
    span.set_attributes(attributes);
    if let Some(error) = error {
        span.set_status(Status::error(error.to_owned()));
    }
    span.end();
}
