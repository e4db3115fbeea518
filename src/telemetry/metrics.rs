//! The instruments, the one meter provider behind them, and what each
//! finished request, reload and cooldown records.

use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider, ObservableGauge, UpDownCounter};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality};
use opentelemetry_sdk::Resource;

use super::names as n;
use crate::config::Deployment;
use crate::providers::Endpoint;
use crate::record::Record;
use crate::spend;

/// The process-wide metrics: one provider with one reader, read by both the
/// Prometheus endpoint and the OTLP push, so both see the same numbers.
pub(super) struct State {
    pub reader: SharedReader,
    pub instruments: Instruments,
    _provider: SdkMeterProvider,
}

static STATE: OnceLock<State> = OnceLock::new();

/// The metrics state, built with a default resource on first use when
/// `telemetry::init` was not called first (in-process tests).
pub(super) fn state() -> &'static State {
    STATE.get_or_init(|| build(Resource::builder().with_service_name(n::SCOPE).build()))
}

/// Installs the state with `resource`; `false` if it already existed.
pub(super) fn install(resource: Resource) -> bool {
    let mut fresh = false;
    STATE.get_or_init(|| {
        fresh = true;
        build(resource)
    });
    fresh
}

fn build(resource: Resource) -> State {
    let reader = SharedReader(Arc::new(ManualReader::builder().build()));
    let provider = SdkMeterProvider::builder()
        .with_reader(reader.clone())
        .with_resource(resource)
        .build();
    // The SDK's own metrics (dropped spans) go through the global provider.
    opentelemetry::global::set_meter_provider(provider.clone());
    let scope = InstrumentationScope::builder(n::SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let instruments = Instruments::new(&provider.meter_with_scope(scope));
    State {
        reader,
        instruments,
        _provider: provider,
    }
}

/// One `ManualReader` shared by the provider and its two consumers.
#[derive(Debug, Clone)]
pub(super) struct SharedReader(Arc<ManualReader>);

impl SharedReader {
    /// Everything measured so far (cumulative).
    pub fn snapshot(&self) -> ResourceMetrics {
        let mut metrics = ResourceMetrics::default();
        if let Err(error) = self.0.collect(&mut metrics) {
            tracing::debug!(%error, "cannot collect metrics");
        }
        metrics
    }
}

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, metrics: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(metrics)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// Every instrument, created once.
pub(super) struct Instruments {
    duration: Histogram<f64>,
    token_usage: Histogram<u64>,
    first_chunk: Histogram<f64>,
    requests: Counter<u64>,
    pub active: UpDownCounter<i64>,
    unpriced: Counter<u64>,
    tokens: Counter<u64>,
    cost: Counter<f64>,
    attempts: Counter<u64>,
    retries: Counter<u64>,
    fallbacks: Counter<u64>,
    _cooldown: ObservableGauge<i64>,
    reloads: Counter<u64>,
    generation: Gauge<u64>,
    reload_success: Gauge<i64>,
    pub exports_failed: Counter<u64>,
}

impl Instruments {
    fn new(meter: &Meter) -> Self {
        let counter = |name: &'static str, unit: &'static str, about: &'static str| {
            meter.u64_counter(name).with_unit(unit).with_description(about).build()
        };
        Instruments {
            duration: meter
                .f64_histogram(n::OPERATION_DURATION)
                .with_unit("s")
                .with_description("GenAI operation duration.")
                .with_boundaries(n::DURATION_BUCKETS.to_vec())
                .build(),
            token_usage: meter
                .u64_histogram(n::TOKEN_USAGE)
                .with_unit("{token}")
                .with_description("Number of input and output tokens used.")
                .with_boundaries(n::TOKEN_BUCKETS.to_vec())
                .build(),
            first_chunk: meter
                .f64_histogram(n::TIME_TO_FIRST_CHUNK)
                .with_unit("s")
                .with_description("Time to receive the first chunk of a streamed response.")
                .with_boundaries(n::DURATION_BUCKETS.to_vec())
                .build(),
            requests: counter(n::REQUESTS, "{request}", "Model requests by outcome."),
            active: meter
                .i64_up_down_counter(n::REQUESTS_ACTIVE)
                .with_unit("{request}")
                .with_description("Requests in flight.")
                .build(),
            unpriced: counter(n::REQUESTS_UNPRICED, "{request}", "Requests whose cost is unknown."),
            tokens: counter(n::TOKENS, "{token}", "Tokens by client and model."),
            cost: meter
                .f64_counter(n::COST)
                .with_unit("{currency}")
                .with_description("Spend in the reporting currency.")
                .build(),
            attempts: counter(
                n::UPSTREAM_ATTEMPTS,
                "{attempt}",
                "Tries on an upstream, by how they ended.",
            ),
            retries: counter(n::RETRIES, "{retry}", "Attempts retried on the same model group."),
            fallbacks: counter(n::FALLBACKS, "{fallback}", "Moves to a fallback model group."),
            _cooldown: meter
                .i64_observable_gauge(n::DEPLOYMENTS_COOLDOWN)
                .with_unit("{deployment}")
                .with_description("1 while a deployment cools down.")
                .with_callback(|gauge| {
                    observe_cooldowns(&mut |d, cooling| gauge.observe(i64::from(cooling), &deployment_labels(d)))
                })
                .build(),
            reloads: counter(n::CONFIG_RELOADS, "{reload}", "Config reload attempts."),
            generation: meter
                .u64_gauge(n::CONFIG_GENERATION)
                .with_description("Generation of the config serving now.")
                .build(),
            reload_success: meter
                .i64_gauge(n::CONFIG_LAST_RELOAD_SUCCESS)
                .with_description("1 when the last config load succeeded.")
                .build(),
            exports_failed: counter(n::EXPORTS_FAILED, "{export}", "OTLP exports that failed."),
        }
    }
}

/// The labels every request metric shares, from closed sets only.
struct Labels {
    operation: KeyValue,
    model: KeyValue,
    client: KeyValue,
    /// Provider, upstream model and server, once a deployment was chosen.
    upstream: Vec<KeyValue>,
}

impl Labels {
    fn of(record: &Record, operation: &'static str) -> Self {
        let upstream = record.deployment.as_ref().map_or_else(Vec::new, |d| {
            vec![
                KeyValue::new(n::PROVIDER_NAME, d.provider.name),
                KeyValue::new(n::RESPONSE_MODEL, d.upstream_model.clone()),
                KeyValue::new(n::SERVER_ADDRESS, d.server_address.clone()),
            ]
        });
        Labels {
            operation: KeyValue::new(n::OPERATION_NAME, operation),
            model: KeyValue::new(n::REQUEST_MODEL, super::model_label(record)),
            client: KeyValue::new(n::CLIENT, record.client.clone()),
            upstream,
        }
    }

    /// Operation, model and the upstream labels, plus `extra`.
    fn genai(&self, extra: impl IntoIterator<Item = KeyValue>) -> Vec<KeyValue> {
        let mut all = vec![self.operation.clone(), self.model.clone()];
        all.extend(self.upstream.iter().cloned());
        all.extend(extra);
        all
    }

    /// Model, provider and client, plus `extra`: the spend and usage labels.
    fn by_client(&self, extra: impl IntoIterator<Item = KeyValue>) -> Vec<KeyValue> {
        let mut all = vec![self.model.clone(), self.client.clone()];
        all.extend(self.upstream.first().cloned());
        all.extend(extra);
        all
    }
}

/// Records a finished model request (one with an endpoint).
pub(super) fn request_finished(record: &Record, operation: &'static str, error: Option<&str>) {
    let m = &state().instruments;
    let labels = Labels::of(record, operation);
    let duration = record.start.elapsed().as_secs_f64();
    let error_kv = error.map(|e| KeyValue::new(n::ERROR_TYPE, e.to_owned()));
    m.duration.record(duration, &labels.genai(error_kv));
    if record.stream {
        if let Some(first) = record.first_byte {
            let seconds = first.saturating_duration_since(record.start).as_secs_f64();
            m.first_chunk.record(seconds, &labels.genai(None));
        }
    }
    let mut outcome = labels.by_client([
        KeyValue::new(n::OUTCOME, record.outcome_label()),
        KeyValue::new(n::STATUS_CLASS, status_class(record.status)),
    ]);
    outcome.push(labels.operation.clone());
    m.requests.add(1, &outcome);
    let model_only = [labels.model.clone()];
    if record.retries > 0 {
        m.retries.add(u64::from(record.retries), &model_only);
    }
    if record.fallbacks > 0 {
        m.fallbacks.add(u64::from(record.fallbacks), &model_only);
    }
    spend(record, &labels, m);
}

/// Counts one try on `deployment`: its status, or why it got none.
pub(super) fn attempt_finished(deployment: &Deployment, status: Option<u16>, error: Option<&str>) {
    let mut labels = vec![
        KeyValue::new(n::REQUEST_MODEL, deployment.model_name.clone()),
        KeyValue::new(n::PROVIDER_NAME, deployment.provider.name),
        KeyValue::new(n::RESPONSE_MODEL, deployment.upstream_model.clone()),
        KeyValue::new(n::SERVER_ADDRESS, deployment.server_address.clone()),
        KeyValue::new(n::STATUS_CLASS, status_class(status.unwrap_or(0))),
    ];
    if let Some(error) = error {
        labels.push(KeyValue::new(n::ERROR_TYPE, error.to_owned()));
    }
    state().instruments.attempts.add(1, &labels);
}

/// Tokens and cost; a request without a price or without usage is counted
/// as unpriced, never as free.
fn spend(record: &Record, labels: &Labels, m: &Instruments) {
    let Some(usage) = record.usage else {
        // A stream the client left early was still billed; a mock never is.
        let upstream = record.deployment.as_ref().is_some_and(|d| d.mock_response.is_none());
        if upstream && (200..400).contains(&record.status) {
            m.unpriced
                .add(1, &labels.by_client([KeyValue::new(n::UNPRICED_REASON, "no_usage")]));
        }
        return;
    };
    for (kind, count) in [("input", usage.input), ("output", usage.output)] {
        // Embeddings have no output: no zero-token points for them.
        if count > 0 || kind == "input" || record.endpoint != Some(Endpoint::Embeddings) {
            m.token_usage
                .record(count, &labels.genai([KeyValue::new(n::TOKEN_TYPE, kind)]));
        }
    }
    let subsets = [
        ("cache_read", usage.cached_input),
        ("cache_write", usage.cache_write),
        ("reasoning", usage.reasoning),
    ];
    let totals = [("input", usage.input), ("output", usage.output)];
    for (kind, count) in totals.into_iter().chain(subsets.into_iter().filter(|(_, c)| *c > 0)) {
        m.tokens
            .add(count, &labels.by_client([KeyValue::new(n::TOKEN_TYPE, kind)]));
    }
    match record.deployment.as_ref().and_then(|d| d.price.as_ref()) {
        Some(price) => {
            let cost = record.currency.convert(spend::cost_usd(price, &usage));
            let currency = KeyValue::new(n::CURRENCY, record.currency.code.clone());
            m.cost.add(cost, &labels.by_client([currency]));
        }
        None => m
            .unpriced
            .add(1, &labels.by_client([KeyValue::new(n::UNPRICED_REASON, "no_price")])),
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "none",
    }
}

/// Reports each deployment of the serving config and whether it cools down now.
pub type CooldownSource = dyn Fn(&mut dyn FnMut(&Deployment, bool)) + Send + Sync;

static COOLDOWNS: RwLock<Option<Box<CooldownSource>>> = RwLock::new(None);

/// Sets where `tollgate.deployments.cooldown` reads from when metrics are
/// collected (a scrape or a push): the gateway's current deployments.
pub fn watch_cooldowns(source: impl Fn(&mut dyn FnMut(&Deployment, bool)) + Send + Sync + 'static) {
    let mut slot = COOLDOWNS.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = Some(Box::new(source));
}

fn observe_cooldowns(report: &mut dyn FnMut(&Deployment, bool)) {
    let slot = COOLDOWNS.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(source) = slot.as_ref() {
        source(report);
    }
}

fn deployment_labels(deployment: &Deployment) -> [KeyValue; 4] {
    [
        KeyValue::new(n::REQUEST_MODEL, deployment.model_name.clone()),
        KeyValue::new(n::DEPLOYMENT, deployment.index as i64),
        KeyValue::new(n::PROVIDER_NAME, deployment.provider.name),
        KeyValue::new(n::SERVER_ADDRESS, deployment.server_address.clone()),
    ]
}

/// Records one reload attempt and the config generation after it.
pub fn record_reload(outcome: crate::reload::Outcome, generation: u64) {
    let m = &state().instruments;
    m.reloads.add(1, &[KeyValue::new(n::OUTCOME, outcome.label())]);
    config_loaded(generation, outcome != crate::reload::Outcome::Rejected);
}

/// Sets the config generation and whether the last load succeeded.
pub fn config_loaded(generation: u64, success: bool) {
    let m = &state().instruments;
    m.generation.record(generation, &[]);
    m.reload_success.record(i64::from(success), &[]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(0), "none");
    }
}
