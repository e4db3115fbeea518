//! The fleet's spend per budget, read from a Prometheus-compatible HTTP API (`/api/v1/query`) over tollgate's own cost counter.
//!
//! Each budget's query is `sum(increase(tollgate_cost_total{...}[Ns]))`
//! evaluated at the read's instant, N being the seconds since its period
//! started, with the reporting currency's label and the budget's own
//! (`tollgate_client`, `gen_ai_provider_name`) as matchers.
//!
//! How far the figure can be off:
//!
//! - Counter resets (a restarted replica's counter starts again at 0) are
//!   seen through by `increase`.
//! - `increase` extrapolates from a series' first and last samples towards
//!   the range's edges (by up to about one scrape interval, and not below
//!   the counter's zero), so each series can be off by about one scrape
//!   interval of its spend at each end.
//! - A series born inside the range (a replica's first priced request for a
//!   client, model and provider after it started) counts nothing until its
//!   second scrape, and then only part of its first sample.
//! - Spend not yet scraped is missing: this replica adds its own spend since
//!   the read, the others' shows at the next scrape and read (the
//!   overshoot bound in [`super`]).
//!
//! The backend must keep samples for the longest period (31 days for a
//! monthly budget; Prometheus keeps 15 days by default). Spend reported in
//! another currency (before a change of `tollgate.spend`) is not counted.
//! Each read scans the period's samples of the matching series: cheap for
//! a few series, worth a recording rule (or a base read plus short deltas)
//! for a monthly budget over many clients and models.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;

use super::settings::{Fleet, Scope, Settings};
use super::{now, Budgets};
use crate::telemetry::names;
use crate::upstream::Upstream;

/// Where the fleet figures stand, for readiness and a metric.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// No metrics backend is configured: each replica counts only its own
    /// spend, in memory, and a restart forgets it.
    Local,
    /// Configured, not read yet.
    Pending,
    /// The last read succeeded at this instant (Unix seconds).
    Fresh { at: i64 },
    /// Reads fail since `since`: enforcing on the last fleet figure plus
    /// this replica's spend since.
    Stale {
        /// When reads started failing (Unix seconds).
        since: i64,
        /// The last successful read, if any.
        last_ok: Option<i64>,
        /// Why the last read failed (never holds a header value).
        error: String,
    },
}

impl Status {
    pub(super) fn initial(settings: &Settings) -> Status {
        match settings.fleet {
            Some(_) if !settings.budgets.is_empty() => Status::Pending,
            _ => Status::Local,
        }
    }

    /// A short word for readiness and a metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Status::Local => "local",
            Status::Pending => "pending",
            Status::Fresh { .. } => "fresh",
            Status::Stale { .. } => "stale",
        }
    }
}

/// Reads once, then keeps reading every refresh interval (jittered) in a
/// task of its own. Call it once at startup and serve after it returns: the
/// first read (bounded by the refresh interval) happens before any request
/// a budget covers is admitted.
pub async fn start(budgets: Arc<Budgets>, upstream: Upstream) -> tokio::task::JoinHandle<()> {
    let mut last = tokio::time::Instant::now();
    refresh(&budgets, &upstream).await;
    tokio::spawn(async move {
        loop {
            // From the start of one read to the next: a read that took long
            // (it times out within the interval) shortens the wait.
            let wait = jittered(refresh_interval(&budgets)).saturating_sub(last.elapsed());
            tokio::time::sleep(wait).await;
            last = tokio::time::Instant::now();
            refresh(&budgets, &upstream).await;
        }
    })
}

/// The configured interval; without a backend the task idles at the same
/// pace, so a reload that adds one is picked up.
fn refresh_interval(budgets: &Budgets) -> Duration {
    let set = budgets.set.load();
    set.settings.fleet.as_ref().map_or(DEFAULT_REFRESH, |f| f.refresh)
}

/// The longest wait between two reads.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(5);

/// A wait between half and all of `interval`, so replicas started together
/// do not query in step.
pub fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// Reads every budget's fleet figure once and records how it went.
pub async fn refresh(budgets: &Budgets, upstream: &Upstream) {
    let set = budgets.set.load_full();
    let Some(fleet) = set.settings.fleet.as_ref() else {
        return;
    };
    let at = now();
    let reads = set.tracked.iter().filter_map(|t| {
        let query = query(&t.spec.scope, fleet, &set.settings.currency)?;
        let mark = t.ledger(at, &set.settings).0.read_mark()?;
        let range = (at - mark.0.start).max(1);
        let query = query.replace(RANGE, &format!("{range}s"));
        Some(async move { (t, mark, read(upstream, fleet, &query, at).await) })
    });
    let results = futures_util::future::join_all(reads).await;
    let mut failure = None;
    for (t, mark, result) in results {
        match result {
            Ok(spent) => {
                let mut ledger = t.ledger.lock().unwrap_or_else(|p| p.into_inner());
                ledger.apply_read(mark, spent);
                let window = mark.0;
                super::report(t, &mut ledger, window);
            }
            Err(e) => failure = Some(e),
        }
    }
    let mut status = budgets.fleet.lock().unwrap_or_else(|p| p.into_inner());
    *status = next_status(&status, failure, at);
}

/// The status after a read at `at`; logs only when the state changes.
fn next_status(previous: &Status, failure: Option<String>, at: i64) -> Status {
    let last_ok = match previous {
        Status::Fresh { at } => Some(*at),
        Status::Stale { last_ok, .. } => *last_ok,
        Status::Local | Status::Pending => None,
    };
    match (failure, previous) {
        (None, Status::Stale { since, .. }) => {
            tracing::info!(down_for_s = at - since, "budget fleet reads work again");
            Status::Fresh { at }
        }
        (None, _) => Status::Fresh { at },
        (Some(error), Status::Stale { since, .. }) => Status::Stale {
            since: *since,
            last_ok,
            error,
        },
        (Some(error), _) => {
            tracing::warn!(
                %error,
                "cannot read the fleet's spend; budgets enforce on the last fleet figure plus this replica's spend"
            );
            Status::Stale {
                since: at,
                last_ok,
                error,
            }
        }
    }
}

/// Stands for the range in a query until the read's instant is known.
const RANGE: &str = "<range>";

/// The PromQL for a budget's spend, with [`RANGE`] for the range; `None`
/// for a budget the counter's labels cannot single out (none since the cost
/// counter has `tollgate_deployment`), which then counts this replica's
/// spend alone. An entry that is its provider's only one is read by
/// provider, which survives reordering `model_list`.
pub fn query(scope: &Scope, fleet: &Fleet, currency: &str) -> Option<String> {
    let mut matchers = vec![matcher(names::CURRENCY, currency)];
    match scope {
        Scope::Gateway => {}
        Scope::Provider(p) => matchers.push(matcher(names::PROVIDER_NAME, p)),
        Scope::Deployment {
            provider,
            sole_of_provider: true,
            ..
        } => matchers.push(matcher(names::PROVIDER_NAME, provider)),
        // Another entry shares the provider: the entry's own label.
        Scope::Deployment { index, .. } => matchers.push(matcher(names::DEPLOYMENT, &index.to_string())),
        Scope::Client(c) => matchers.push(matcher(names::CLIENT, c)),
    }
    matchers.extend(fleet.matchers.clone());
    Some(format!(
        "sum(increase({}_total{{{}}}[{RANGE}]))",
        prometheus_name(names::COST),
        matchers.join(",")
    ))
}

/// A metric or label name as Prometheus sees it (dots become underscores).
fn prometheus_name(name: &str) -> String {
    name.replace('.', "_")
}

fn matcher(label: &str, value: &str) -> String {
    let value = value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n");
    format!("{}=\"{value}\"", prometheus_name(label))
}

/// Largest answer read: one sample is a few hundred bytes.
const MAX_ANSWER: usize = 1 << 20;

/// Runs one instant query at `at` and returns its single value (0 when the
/// result is empty: nothing spent yet).
async fn read(upstream: &Upstream, fleet: &Fleet, query: &str, at: i64) -> Result<f64, String> {
    // The whole exchange fits in one refresh interval, so reads stay that close.
    tokio::time::timeout(fleet.refresh, exchange(upstream, fleet, query, at))
        .await
        .map_err(|_| "timed out".to_string())?
}

async fn exchange(upstream: &Upstream, fleet: &Fleet, query: &str, at: i64) -> Result<f64, String> {
    let uri = format!(
        "{}/api/v1/query?query={}&time={at}",
        fleet.url.trim_end_matches('/'),
        encode(query)
    );
    let mut request = http::Request::get(uri);
    for (name, value) in &fleet.headers {
        let mut value = http::HeaderValue::from_str(value.expose())
            .map_err(|_| format!("header {name} has a value that cannot be sent"))?;
        value.set_sensitive(true);
        request = request.header(name.as_str(), value);
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("bad query request: {e}"))?;
    let response = upstream.send(request).await.map_err(str::to_string)?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("cannot read the answer: {e}"))?
        .to_bytes();
    parse(status, &body)
}

/// The Prometheus API's answer envelope.
#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

/// The value of an instant query's answer: a one-sample vector or a scalar.
pub fn parse(status: http::StatusCode, body: &[u8]) -> Result<f64, String> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|_| format!("status {}: not a Prometheus API answer", status.as_u16()))?;
    if answer.status != "success" {
        let kind = answer.error_type.unwrap_or_default();
        let error: String = answer.error.unwrap_or_default().chars().take(200).collect();
        return Err(format!("status {}: {kind} {error}", status.as_u16()));
    }
    let data = answer.data.ok_or("an answer without data")?;
    let sample = match (data.result_type.as_str(), &data.result) {
        ("vector", serde_json::Value::Array(samples)) => match samples.first() {
            None => return Ok(0.0),
            Some(s) => s.get("value").cloned().unwrap_or_default(),
        },
        ("scalar", value) => value.clone(),
        (kind, _) => return Err(format!("a {kind} answer, not a vector")),
    };
    let value = sample
        .get(1)
        .and_then(serde_json::Value::as_str)
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or("a sample without a number")?;
    if value.is_nan() {
        // `increase` over a range with one sample per series: nothing measured.
        return Ok(0.0);
    }
    if !value.is_finite() {
        return Err(format!("an infinite spend ({value})"));
    }
    Ok(value.max(0.0))
}

/// Percent-encodes a query parameter (everything but RFC 3986's unreserved characters).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> Fleet {
        Fleet {
            url: "http://prometheus:9090".into(),
            headers: vec![],
            matchers: Some(r#"job="tollgate""#.into()),
            refresh: DEFAULT_REFRESH,
        }
    }

    #[test]
    fn queries_name_the_cost_counter_and_the_scope() {
        let q = query(&Scope::Client("auto\"mation".into()), &fleet(), "EUR").unwrap();
        assert_eq!(
            q,
            r#"sum(increase(tollgate_cost_total{tollgate_currency="EUR",tollgate_client="auto\"mation",job="tollgate"}[<range>]))"#
        );
        let q = query(&Scope::Gateway, &fleet(), "USD").unwrap();
        assert!(q.contains(r#"{tollgate_currency="USD",job="tollgate"}"#), "{q}");
        let q = query(&Scope::Provider("openai".into()), &fleet(), "USD").unwrap();
        assert!(q.contains(r#"gen_ai_provider_name="openai""#), "{q}");
        let shared = Scope::Deployment {
            index: 1,
            model_name: "a".into(),
            provider: "openai",
            sole_of_provider: false,
        };
        let q = query(&shared, &fleet(), "USD").unwrap();
        assert!(q.contains(r#"tollgate_deployment="1""#), "{q}");
    }

    #[test]
    fn answers_parse_to_one_number() {
        let ok = http::StatusCode::OK;
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.5,"12.25"]}]}}"#;
        assert_eq!(parse(ok, vector), Ok(12.25));
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(parse(ok, empty), Ok(0.0));
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}"#;
        assert_eq!(parse(ok, scalar), Ok(3.0));
        let nan = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#;
        assert_eq!(parse(ok, nan), Ok(0.0));
        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 4"}"#;
        let err = parse(http::StatusCode::BAD_REQUEST, bad).unwrap_err();
        assert!(err.contains("400") && err.contains("bad_data"), "{err}");
        assert!(parse(ok, b"<html>").unwrap_err().contains("not a Prometheus"));
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(parse(ok, matrix).is_err());
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode(r#"a{b="c"}[5s] +"#), "a%7Bb%3D%22c%22%7D%5B5s%5D%20%2B");
    }

    #[test]
    fn jitter_stays_within_the_interval() {
        for _ in 0..1000 {
            let wait = jittered(Duration::from_secs(5));
            assert!(wait >= Duration::from_millis(2500) && wait <= Duration::from_secs(5));
        }
    }

    #[test]
    fn the_status_logs_transitions_and_keeps_the_last_good_read() {
        let fresh = next_status(&Status::Pending, None, 10);
        assert_eq!(fresh, Status::Fresh { at: 10 });
        let stale = next_status(&fresh, Some("connection failed".into()), 15);
        assert_eq!(
            stale,
            Status::Stale {
                since: 15,
                last_ok: Some(10),
                error: "connection failed".into()
            }
        );
        let still = next_status(&stale, Some("timed out".into()), 20);
        assert!(matches!(
            still,
            Status::Stale {
                since: 15,
                last_ok: Some(10),
                ..
            }
        ));
        assert_eq!(next_status(&still, None, 25), Status::Fresh { at: 25 });
    }
}
