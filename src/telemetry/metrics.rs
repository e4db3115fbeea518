//! The instruments, the one meter provider behind them, and what each
//! finished request, reload and cooldown records.

use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use opentelemetry::metrics::{
    BoundCounter, BoundHistogram, Counter, Gauge, Histogram, Meter, MeterProvider, ObservableGauge, UpDownCounter,
};
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
    _budgets: Vec<ObservableGauge<f64>>,
    _disabled: ObservableGauge<u64>,
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
            _budgets: super::budgets::gauges(meter),
            _disabled: meter
                .u64_observable_gauge(n::DEPLOYMENTS_DISABLED)
                .with_unit("{deployment}")
                .with_description("Entries loaded disabled: a provider tollgate does not speak yet.")
                .with_callback(|gauge| {
                    observe_disabled(&mut |provider, count| {
                        gauge.observe(count, &[KeyValue::new(n::PROVIDER_NAME, provider)])
                    })
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

    /// The `tollgate.requests` labels: by client, outcome, status class and operation.
    fn outcome(&self, record: &Record) -> Vec<KeyValue> {
        let mut all = self.by_client([
            KeyValue::new(n::OUTCOME, record.outcome_label()),
            KeyValue::new(n::STATUS_CLASS, status_class(record.status)),
        ]);
        all.push(self.operation.clone());
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

/// Counts one try on `deployment`: its status, or why it got none.
pub(super) fn attempt_finished(deployment: &Deployment, status: Option<u16>, error: Option<&str>) {
    if error.is_none() && status.is_some_and(|s| (200..300).contains(&s)) {
        let ok = &deployment.metrics.attempt_ok;
        ok.get_or_init(|| {
            state()
                .instruments
                .attempts
                .bind(&attempt_labels(deployment, status, None))
        })
        .add(1);
        return;
    }
    state()
        .instruments
        .attempts
        .add(1, &attempt_labels(deployment, status, error));
}

fn attempt_labels(deployment: &Deployment, status: Option<u16>, error: Option<&str>) -> Vec<KeyValue> {
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
    labels
}

/// Records a finished model request (one with an endpoint). A successful
/// request records through instruments bound to its deployment, client and
/// model on first use, so it builds and hashes no label sets; the others
/// build their labels (they carry an error type, and are few).
pub(super) fn request_finished(record: &Record, operation: &'static str, error: Option<&str>, took: Duration) {
    let m = &state().instruments;
    if record.retries > 0 || record.fallbacks > 0 {
        let model_only = [KeyValue::new(n::REQUEST_MODEL, super::model_label(record))];
        if record.retries > 0 {
            m.retries.add(u64::from(record.retries), &model_only);
        }
        if record.fallbacks > 0 {
            m.fallbacks.add(u64::from(record.fallbacks), &model_only);
        }
    }
    if error.is_none() && (200..300).contains(&record.status) {
        if let Some(bound) = record
            .deployment
            .as_ref()
            .and_then(|d| d.metrics.request(record, operation))
        {
            return points(
                record,
                took,
                &Bound {
                    set: &bound,
                    record,
                    operation,
                    m,
                },
            );
        }
    }
    let labels = Labels::of(record, operation);
    points(
        record,
        took,
        &Unbound {
            labels: &labels,
            error,
            record,
            m,
        },
    );
}

/// Where a finished request's points go: the instruments with labels built
/// now ([`Unbound`]), or instruments bound to the same labels ([`Bound`]).
trait Points {
    fn duration(&self, seconds: f64);
    fn first_chunk(&self, seconds: f64);
    fn request(&self);
    /// `gen_ai.client.token.usage`; `kind` is `input` or `output`.
    fn token_usage(&self, kind: TokenKind, count: u64);
    fn tokens(&self, kind: TokenKind, count: u64);
    fn cost(&self, cost: f64);
    fn unpriced(&self, reason: &'static str);
}

/// The `gen_ai.token.type` values counted.
#[derive(Clone, Copy)]
enum TokenKind {
    Input,
    Output,
    CacheRead,
    CacheWrite,
    Reasoning,
}

impl TokenKind {
    fn label(self) -> &'static str {
        match self {
            TokenKind::Input => "input",
            TokenKind::Output => "output",
            TokenKind::CacheRead => "cache_read",
            TokenKind::CacheWrite => "cache_write",
            TokenKind::Reasoning => "reasoning",
        }
    }
}

/// What every finished request records: duration, first chunk, outcome,
/// tokens and cost. A request without a price or without usage is counted
/// as unpriced, never as free.
fn points(record: &Record, took: Duration, to: &impl Points) {
    to.duration(took.as_secs_f64());
    if record.stream {
        if let Some(first) = record.first_byte {
            to.first_chunk(first.saturating_duration_since(record.start).as_secs_f64());
        }
    }
    to.request();
    let Some(usage) = record.usage else {
        // A stream the client left early was still billed; a mock never is.
        let upstream = record.deployment.as_ref().is_some_and(|d| d.mock_response.is_none());
        if upstream && (200..400).contains(&record.status) {
            to.unpriced("no_usage");
        }
        return;
    };
    to.token_usage(TokenKind::Input, usage.input);
    // Embeddings have no output: no zero-token points for them.
    if usage.output > 0 || record.endpoint != Some(Endpoint::Embeddings) {
        to.token_usage(TokenKind::Output, usage.output);
    }
    to.tokens(TokenKind::Input, usage.input);
    to.tokens(TokenKind::Output, usage.output);
    let subsets = [
        (TokenKind::CacheRead, usage.cached_input),
        (TokenKind::CacheWrite, usage.cache_write),
        (TokenKind::Reasoning, usage.reasoning),
    ];
    for (kind, count) in subsets.into_iter().filter(|(_, c)| *c > 0) {
        to.tokens(kind, count);
    }
    match record.deployment.as_ref().and_then(|d| d.price.as_ref()) {
        Some(price) => to.cost(record.currency.convert(spend::cost_usd(price, &usage))),
        None => to.unpriced("no_price"),
    }
}

/// Labels built for this one request.
struct Unbound<'a> {
    labels: &'a Labels,
    error: Option<&'a str>,
    record: &'a Record,
    m: &'a Instruments,
}

impl Points for Unbound<'_> {
    fn duration(&self, seconds: f64) {
        let error = self.error.map(|e| KeyValue::new(n::ERROR_TYPE, e.to_owned()));
        self.m.duration.record(seconds, &self.labels.genai(error));
    }
    fn first_chunk(&self, seconds: f64) {
        self.m.first_chunk.record(seconds, &self.labels.genai(None));
    }
    fn request(&self) {
        self.m.requests.add(1, &self.labels.outcome(self.record));
    }
    fn token_usage(&self, kind: TokenKind, count: u64) {
        let labels = self.labels.genai([KeyValue::new(n::TOKEN_TYPE, kind.label())]);
        self.m.token_usage.record(count, &labels);
    }
    fn tokens(&self, kind: TokenKind, count: u64) {
        let labels = self.labels.by_client([KeyValue::new(n::TOKEN_TYPE, kind.label())]);
        self.m.tokens.add(count, &labels);
    }
    fn cost(&self, cost: f64) {
        let currency = KeyValue::new(n::CURRENCY, self.record.currency.code.clone());
        let labels = self
            .labels
            .by_client([currency].into_iter().chain(deployment_label(self.record)));
        self.m.cost.add(cost, &labels);
    }
    fn unpriced(&self, reason: &'static str) {
        let labels = self.labels.by_client([KeyValue::new(n::UNPRICED_REASON, reason)]);
        self.m.unpriced.add(1, &labels);
    }
}

/// The instruments of one (deployment, operation, model, client, currency)
/// for successful requests, each bound on its first use (binding creates the
/// series, so one never used is never exported).
#[derive(Default)]
struct BoundSet {
    operation: &'static str,
    model: Option<Arc<str>>,
    client: Arc<str>,
    currency: Arc<str>,
    duration: OnceLock<BoundHistogram<f64>>,
    first_chunk: OnceLock<BoundHistogram<f64>>,
    requests: OnceLock<BoundCounter<u64>>,
    /// Input and output.
    token_usage: [OnceLock<BoundHistogram<u64>>; 2],
    /// By [`TokenKind`].
    tokens: [OnceLock<BoundCounter<u64>>; 5],
    cost: OnceLock<BoundCounter<f64>>,
    unpriced_no_usage: OnceLock<BoundCounter<u64>>,
    unpriced_no_price: OnceLock<BoundCounter<u64>>,
}

impl BoundSet {
    fn is_for(&self, record: &Record, operation: &'static str) -> bool {
        self.operation == operation
            && *self.client == *record.client
            && self.model.as_deref() == record.requested_model.as_deref()
            && *self.currency == *record.currency.code
    }
}

/// A successful request's points through its [`BoundSet`]; the labels are
/// built (by the same code as [`Unbound`]'s) only when an instrument binds.
struct Bound<'a> {
    set: &'a BoundSet,
    record: &'a Record,
    operation: &'static str,
    m: &'a Instruments,
}

impl Bound<'_> {
    fn labels(&self) -> Labels {
        Labels::of(self.record, self.operation)
    }
}

impl Points for Bound<'_> {
    fn duration(&self, seconds: f64) {
        let bind = || self.m.duration.bind(&self.labels().genai(None));
        self.set.duration.get_or_init(bind).record(seconds);
    }
    fn first_chunk(&self, seconds: f64) {
        let bind = || self.m.first_chunk.bind(&self.labels().genai(None));
        self.set.first_chunk.get_or_init(bind).record(seconds);
    }
    fn request(&self) {
        let bind = || self.m.requests.bind(&self.labels().outcome(self.record));
        self.set.requests.get_or_init(bind).add(1);
    }
    fn token_usage(&self, kind: TokenKind, count: u64) {
        let [input, output] = &self.set.token_usage;
        let slot = if matches!(kind, TokenKind::Output) {
            output
        } else {
            input
        };
        let bind = || {
            let labels = self.labels().genai([KeyValue::new(n::TOKEN_TYPE, kind.label())]);
            self.m.token_usage.bind(&labels)
        };
        slot.get_or_init(bind).record(count);
    }
    fn tokens(&self, kind: TokenKind, count: u64) {
        let bind = || {
            let labels = self.labels().by_client([KeyValue::new(n::TOKEN_TYPE, kind.label())]);
            self.m.tokens.bind(&labels)
        };
        let [input, output, cache_read, cache_write, reasoning] = &self.set.tokens;
        let slot = match kind {
            TokenKind::Input => input,
            TokenKind::Output => output,
            TokenKind::CacheRead => cache_read,
            TokenKind::CacheWrite => cache_write,
            TokenKind::Reasoning => reasoning,
        };
        slot.get_or_init(bind).add(count);
    }
    fn cost(&self, cost: f64) {
        let bind = || {
            let currency = KeyValue::new(n::CURRENCY, self.record.currency.code.clone());
            let labels = self
                .labels()
                .by_client([currency].into_iter().chain(deployment_label(self.record)));
            self.m.cost.bind(&labels)
        };
        self.set.cost.get_or_init(bind).add(cost);
    }
    fn unpriced(&self, reason: &'static str) {
        let slot = match reason {
            "no_usage" => &self.set.unpriced_no_usage,
            _ => &self.set.unpriced_no_price,
        };
        let bind = || {
            let labels = self.labels().by_client([KeyValue::new(n::UNPRICED_REASON, reason)]);
            self.m.unpriced.bind(&labels)
        };
        slot.get_or_init(bind).add(1);
    }
}

/// The metrics state of one deployment: instruments bound to its label
/// sets, made on first use and dropped with the deployment (the series stay).
#[derive(Default)]
pub struct DeploymentMetrics {
    /// `tollgate.upstream.attempts` with a 2xx answer.
    attempt_ok: OnceLock<BoundCounter<u64>>,
    /// One set per operation, model and client seen (closed sets, from the
    /// config); at most [`MAX_BOUND_SETS`].
    requests: Mutex<Vec<Arc<BoundSet>>>,
}

/// Bound sets one deployment keeps; requests beyond them build their labels.
const MAX_BOUND_SETS: usize = 256;

impl std::fmt::Debug for DeploymentMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploymentMetrics").finish_non_exhaustive()
    }
}

impl DeploymentMetrics {
    /// The bound set for `record`, made if new; `None` when full.
    fn request(&self, record: &Record, operation: &'static str) -> Option<Arc<BoundSet>> {
        let mut sets = self.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(set) = sets.iter().find(|s| s.is_for(record, operation)) {
            return Some(set.clone());
        }
        if sets.len() >= MAX_BOUND_SETS {
            return None;
        }
        let set = Arc::new(BoundSet {
            operation,
            model: record.requested_model.clone(),
            client: record.client.clone(),
            currency: record.currency.code.clone(),
            ..BoundSet::default()
        });
        sets.push(set.clone());
        Some(set)
    }
}

/// The serving entry's position on the cost counter, so a budget on one
/// entry can be read fleet-wide (bounded: one value per `model_list` entry).
fn deployment_label(record: &Record) -> Option<KeyValue> {
    record
        .deployment
        .as_ref()
        .map(|d| KeyValue::new(n::DEPLOYMENT, d.index as i64))
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

/// Reports, per provider, how many entries of the serving config are disabled.
pub type DisabledSource = dyn Fn(&mut dyn FnMut(&'static str, u64)) + Send + Sync;

static DISABLED: RwLock<Option<Box<DisabledSource>>> = RwLock::new(None);

/// Sets where `tollgate.deployments.disabled` reads from when metrics are
/// collected: the gateway's current config.
pub fn watch_disabled(source: impl Fn(&mut dyn FnMut(&'static str, u64)) + Send + Sync + 'static) {
    let mut slot = DISABLED.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = Some(Box::new(source));
}

fn observe_disabled(report: &mut dyn FnMut(&'static str, u64)) {
    let slot = DISABLED.read().unwrap_or_else(|poisoned| poisoned.into_inner());
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

    /// The `/metrics` lines of `metric` for the client `client`.
    fn series(metric: &str, client: &str) -> Vec<String> {
        let text = crate::telemetry::render_prometheus();
        let client = format!("tollgate_client=\"{client}\"");
        text.lines()
            .filter(|l| l.starts_with(metric) && l.contains(&client))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn bound_and_unbound_requests_share_their_series() {
        let yaml = "model_list:\n  - model_name: smart\n    litellm_params: {model: openai/gpt-4o, api_key: k}\n";
        let config = crate::config::load_str(yaml, std::path::Path::new("."), &|_| None)
            .unwrap()
            .config;
        let deployment = config.deployments[0].clone();
        let record = || {
            let mut r = Record::start(&http::Method::POST, &"/v1/chat/completions".parse().unwrap());
            r.deployment = Some(deployment.clone());
            r.requested_model = Some(deployment.model_name.clone());
            r.client = Arc::from("unit-bound");
            r.endpoint = Some(Endpoint::ChatCompletions);
            r.status = 200;
            r.outcome = crate::record::Outcome::Completed;
            r.usage = Some(spend::Usage {
                input: 3,
                output: 4,
                cached_input: 1,
                ..Default::default()
            });
            r
        };
        // Two through the bound set (a record is finished when dropped),
        // one with labels built on the spot.
        for _ in 0..2 {
            drop(record());
        }
        let mut one = record();
        let labels = Labels::of(&one, "chat");
        let m = &state().instruments;
        points(
            &one,
            one.start.elapsed(),
            &Unbound {
                labels: &labels,
                error: None,
                record: &one,
                m,
            },
        );
        one.endpoint = None;
        drop(one);
        assert_eq!(deployment.metrics.requests.lock().unwrap().len(), 1);

        let requests = series("tollgate_requests_total", "unit-bound");
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert!(requests[0].ends_with(" 3"), "{requests:?}");
        let tokens = series("tollgate_tokens_total", "unit-bound");
        assert_eq!(tokens.len(), 3, "input, output, cache_read: {tokens:?}");
        let cached = tokens.iter().find(|l| l.contains("cache_read")).unwrap();
        assert!(cached.ends_with(" 3"), "{tokens:?}");
        let cost = series("tollgate_cost_total", "unit-bound");
        assert_eq!(cost.len(), 1, "{cost:?}");
        // Never used, never bound: a priced request makes no unpriced series.
        assert!(series("tollgate_requests_unpriced_total", "unit-bound").is_empty());

        // A failed request builds its labels: a series of its own.
        let mut failed = record();
        failed.status = 502;
        drop(failed);
        let requests = series("tollgate_requests_total", "unit-bound");
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert_eq!(deployment.metrics.requests.lock().unwrap().len(), 1);
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(0), "none");
    }
}
