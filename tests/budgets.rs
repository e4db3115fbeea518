//! Budgets: the fleet reader against a loopback server speaking the Prometheus query API, and the budget keys of a config file, right and wrong.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use tollgate::budget::{fleet, Action, Budgets, Fleet, Keys, Period, Scope, Settings, Spec, Verdict};
use tollgate::config::{load_str, Loaded, Problem};
use tollgate::secret::Secret;
use tollgate::upstream::Upstream;

/// One query the fake Prometheus received.
#[derive(Debug, Clone)]
struct Query {
    path: String,
    promql: String,
    time: String,
    authorization: Option<String>,
    tenant: Option<String>,
}

/// A Prometheus HTTP API on loopback: answers `/api/v1/query` with the
/// value of the first configured label matcher the query contains.
#[derive(Clone, Default)]
struct FakePrometheus {
    queries: Arc<Mutex<Vec<Query>>>,
    /// (text the query contains, spend to answer).
    values: Arc<Mutex<Vec<(String, f64)>>>,
    /// Answer 503 with an error envelope instead.
    down: Arc<Mutex<bool>>,
}

impl FakePrometheus {
    async fn start(self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let me = self.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let me = me.clone();
                        async move { Ok::<_, Infallible>(me.answer(req)) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    }

    fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let param = |name: &str| {
            req.uri().query().unwrap_or("").split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                (k == name).then(|| decode(v))
            })
        };
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let query = Query {
            path: req.uri().path().to_string(),
            promql: param("query").unwrap_or_default(),
            time: param("time").unwrap_or_default(),
            authorization: header("authorization"),
            tenant: header("x-scope-orgid"),
        };
        self.queries.lock().unwrap().push(query.clone());
        if *self.down.lock().unwrap() {
            let body = r#"{"status":"error","errorType":"unavailable","error":"shutting down"}"#;
            return Response::builder().status(503).body(Full::from(body)).unwrap();
        }
        let values = self.values.lock().unwrap();
        let value = values
            .iter()
            .find(|(k, _)| query.promql.contains(k.as_str()))
            .map(|(_, v)| *v);
        let result = match value {
            Some(v) => format!(r#"[{{"metric":{{}},"value":[{},"{v}"]}}]"#, query.time),
            None => "[]".to_string(),
        };
        let body = format!(r#"{{"status":"success","data":{{"resultType":"vector","result":{result}}}}}"#);
        Response::new(Full::from(body))
    }

    fn queries(&self) -> Vec<Query> {
        self.queries.lock().unwrap().clone()
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn spec(scope: Scope, limit: f64) -> Spec {
    Spec {
        scope,
        limit,
        period: Period::parse("1mo").unwrap(),
        action: Action::Reject,
        soft: vec![],
    }
}

fn settings(addr: SocketAddr, refresh: Duration) -> Settings {
    Settings {
        budgets: vec![spec(Scope::Client("ci".into()), 10.0), spec(Scope::Gateway, 100.0)],
        fleet: Some(Fleet {
            url: format!("http://{addr}/"),
            headers: vec![
                ("Authorization".into(), Secret::new("Bearer prom-token")),
                ("X-Scope-OrgID".into(), Secret::new("tenant-1")),
            ],
            matchers: Some(r#"job="tollgate""#.into()),
            refresh,
        }),
        currency: "EUR".into(),
        ..Settings::default()
    }
}

const CI: Keys = Keys {
    client: "ci",
    group: "gpt",
    deployment: Some(0),
    provider: Some("openai"),
};

fn spent(b: &Budgets, budget: &str) -> f64 {
    let snapshot = b.snapshot();
    snapshot.budgets.iter().find(|g| &*g.budget == budget).unwrap().spent
}

#[tokio::test]
async fn the_fleet_figure_comes_from_the_query_api_and_local_spend_adds_to_it() {
    let prometheus = FakePrometheus::default();
    prometheus.values.lock().unwrap().extend([
        (r#"tollgate_client="ci""#.to_string(), 4.5),
        (r#"tollgate_currency="EUR",job="tollgate""#.to_string(), 60.0),
    ]);
    let addr = prometheus.clone().start().await;
    let budgets = Budgets::new(settings(addr, Duration::from_secs(5)));
    assert_eq!(budgets.snapshot().fleet, fleet::Status::Pending);

    let before = jiff::Timestamp::now().as_second();
    fleet::refresh(&budgets, &Upstream::new()).await;
    assert!(matches!(budgets.snapshot().fleet, fleet::Status::Fresh { .. }));
    assert_eq!(spent(&budgets, "client:ci"), 4.5);
    assert_eq!(spent(&budgets, "gateway"), 60.0);

    // One query per budget, over the cost counter since the month began.
    let queries = prometheus.queries();
    assert_eq!(queries.len(), 2, "{queries:?}");
    let month_start = budgets.snapshot().budgets[0].period_start;
    for q in &queries {
        assert_eq!(q.path, "/api/v1/query");
        assert!(
            q.promql
                .starts_with("sum(increase(tollgate_cost_total{tollgate_currency=\"EUR\""),
            "{}",
            q.promql
        );
        let at: i64 = q.time.parse().unwrap();
        assert!(at >= before && at <= before + 5, "evaluated now: {at}");
        let range = format!("[{}s]))", at - month_start);
        assert!(q.promql.ends_with(&range), "{} should end with {range}", q.promql);
        assert_eq!(q.authorization.as_deref(), Some("Bearer prom-token"));
        assert_eq!(q.tenant.as_deref(), Some("tenant-1"));
    }
    assert!(queries
        .iter()
        .any(|q| q.promql.contains(r#"tollgate_client="ci",job="tollgate""#)));

    // Spend here after the read counts on top of it.
    budgets.record(&CI, 2.0);
    assert_eq!(spent(&budgets, "client:ci"), 6.5);
    assert_eq!(spent(&budgets, "gateway"), 62.0);
    // The fleet reaches the client's limit: this replica rejects.
    prometheus.values.lock().unwrap()[0].1 = 10.0;
    fleet::refresh(&budgets, &Upstream::new()).await;
    let Verdict::Rejected { budget, spent, .. } = budgets.admit(&CI) else {
        panic!("not rejected")
    };
    assert_eq!((&*budget, spent), ("client:ci", 10.0));
}

#[tokio::test]
async fn when_prometheus_is_down_the_last_figure_plus_local_spend_holds() {
    let prometheus = FakePrometheus::default();
    prometheus
        .values
        .lock()
        .unwrap()
        .push((r#"tollgate_client="ci""#.to_string(), 8.0));
    let addr = prometheus.clone().start().await;
    let budgets = Budgets::new(settings(addr, Duration::from_secs(1)));
    let upstream = Upstream::new();
    fleet::refresh(&budgets, &upstream).await;
    let fleet::Status::Fresh { at: read_at } = budgets.snapshot().fleet else {
        panic!("not read")
    };

    *prometheus.down.lock().unwrap() = true;
    fleet::refresh(&budgets, &upstream).await;
    let fleet::Status::Stale { last_ok, error, .. } = budgets.snapshot().fleet else {
        panic!("not stale")
    };
    assert_eq!(last_ok, Some(read_at));
    assert!(error.contains("503") && error.contains("unavailable"), "{error}");
    assert!(!error.contains("prom-token"), "no secret in the error: {error}");
    // Still enforcing: the last fleet figure, plus this replica's spend.
    budgets.record(&CI, 1.5);
    assert_eq!(spent(&budgets, "client:ci"), 9.5);
    assert!(matches!(budgets.admit(&CI), Verdict::Admitted { .. }));
    budgets.record(&CI, 0.5);
    assert!(matches!(budgets.admit(&CI), Verdict::Rejected { .. }));

    // Unreachable altogether: a port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    budgets.update(Settings {
        fleet: Some(Fleet {
            url: format!("http://{closed}"),
            ..settings(addr, Duration::from_secs(1)).fleet.unwrap()
        }),
        ..settings(addr, Duration::from_secs(1))
    });
    fleet::refresh(&budgets, &upstream).await;
    assert!(matches!(budgets.snapshot().fleet, fleet::Status::Stale { .. }));
    assert_eq!(spent(&budgets, "client:ci"), 10.0, "the spend survives a reload");
}

#[tokio::test]
async fn the_reader_keeps_reading_every_refresh_interval() {
    let prometheus = FakePrometheus::default();
    let addr = prometheus.clone().start().await;
    let budgets = Arc::new(Budgets::new(settings(addr, Duration::from_millis(200))));
    let task = fleet::start(budgets.clone(), Upstream::new()).await;
    // The first read is done when `start` returns.
    assert_eq!(prometheus.queries().len(), 2);
    assert!(matches!(budgets.snapshot().fleet, fleet::Status::Fresh { .. }));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    task.abort();
    // Waits of 100 to 200 ms: 5 to 11 more rounds of two queries in 1.1 s
    // (fewer on a loaded machine, never more).
    let reads = prometheus.queries().len() / 2;
    assert!((3..=13).contains(&reads), "{reads} reads");
}

// ---- config ----

fn load(yaml: &str, dir: &Path) -> Result<Loaded, Vec<Problem>> {
    let env = |name: &str| (name == "PROM_URL").then(|| "http://prometheus:9090".to_string());
    load_str(yaml, dir, &env)
}

fn problems(yaml: &str) -> Vec<String> {
    load(yaml, Path::new("."))
        .expect_err("should not load")
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn has(problems: &[String], at: &str, says: &str) {
    assert!(
        problems.iter().any(|p| p.starts_with(at) && p.contains(says)),
        "no problem at `{at}` saying `{says}` in {problems:#?}"
    );
}

/// The seed's case: €100 a month, Kimi falling back to the local model once spent.
const SEED: &str = r#"
model_list:
  - model_name: kimi-code
    litellm_params:
      model: openrouter/moonshotai/kimi-k2
      max_budget: 60
      budget_duration: 1mo
  - model_name: local-llama
    litellm_params:
      model: hosted_vllm/llama-3.1-8b
      api_base: http://localhost:8000/v1
  - model_name: gpt
    litellm_params:
      model: openai/gpt-4o-mini
litellm_settings:
  max_budget: 100
  budget_duration: 1mo
  timezone: Europe/Berlin
router_settings:
  provider_budget_config:
    openai:
      budget_limit: 10
      time_period: 1d
tollgate:
  spend:
    currency: EUR
    per_usd: 0.92
  clients:
    - name: automation
      key_sha256: abababababababababababababababababababababababababababababababab
      max_budget: 5
      budget_duration: 7d
  budgets:
    prometheus_url: os.environ/PROM_URL
    prometheus_headers:
      Authorization: file:prom-auth
    prometheus_matchers: job="tollgate"
    refresh_interval: 2
    soft_limits: [0.8]
    on_limit:
      gateway: {action: fallback, fallback: local-llama}
      deployment:0: {fallback: local-llama, soft_limits: [0.5, 0.9]}
"#;

#[test]
fn the_seed_case_loads_into_budgets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prom-auth"), "Bearer from-a-file\n").unwrap();
    let loaded = load(SEED, dir.path()).unwrap();
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|w| w.contains("budget") || w.contains("timezone")),
        "budget keys are implemented, not ignored: {:?}",
        loaded.warnings
    );
    let b = &loaded.config.budgets;
    let names: Vec<String> = b.budgets.iter().map(|s| s.scope.name()).collect();
    assert_eq!(
        names,
        ["deployment:0", "provider:openai", "client:automation", "gateway"]
    );
    let by = |name: &str| b.budgets.iter().find(|s| s.scope.name() == name).unwrap();
    assert_eq!(by("gateway").limit, 100.0);
    assert_eq!(by("gateway").period, Period::Months(1));
    assert_eq!(by("gateway").action, Action::Fallback("local-llama".into()));
    assert_eq!(by("gateway").soft, vec![0.8]);
    assert_eq!(by("deployment:0").action, Action::Fallback("local-llama".into()));
    assert_eq!(by("deployment:0").soft, vec![0.5, 0.9]);
    assert_eq!(by("provider:openai").period, Period::Days(1));
    assert_eq!(by("provider:openai").action, Action::Reject);
    assert_eq!(by("client:automation").period, Period::Weeks(1));
    assert_eq!(b.zone.iana_name(), Some("Europe/Berlin"));
    assert_eq!(&*b.currency, "EUR");
    let fleet = b.fleet.as_ref().unwrap();
    assert_eq!(fleet.url, "http://prometheus:9090");
    assert_eq!(fleet.refresh, Duration::from_secs(2));
    assert_eq!(fleet.headers[0].1.expose(), "Bearer from-a-file");
    assert!(
        loaded.config.secret_files.iter().any(|f| f.ends_with("prom-auth")),
        "watched for rotation"
    );
    assert!(!format!("{b:?}").contains("from-a-file"), "the header stays redacted");
}

#[test]
fn without_a_metrics_backend_the_config_says_a_restart_resets_budgets() {
    let yaml = "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\nlitellm_settings:\n  max_budget: 10\n  budget_duration: 30d\n";
    let loaded = load(yaml, Path::new(".")).unwrap();
    assert!(
        loaded.warnings.iter().any(|w| w.contains("a restart resets them")),
        "{:?}",
        loaded.warnings
    );
    assert_eq!(loaded.config.budgets.budgets[0].period, Period::Months(1));
    assert!(loaded.config.budgets.fleet.is_none());
}

const MODELS: &str = "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n  - model_name: n\n    litellm_params:\n      model: openai/gpt-4o-mini\n";

#[test]
fn wrong_amounts_and_periods_name_their_key() {
    let p = problems(&format!(
        "{MODELS}litellm_settings:\n  max_budget: -5\n  budget_duration: 1d\n"
    ));
    has(&p, "litellm_settings.max_budget", "found -5");
    let p = problems(&format!(
        "{MODELS}litellm_settings:\n  max_budget: \"NaN\"\n  budget_duration: 1d\n"
    ));
    has(&p, "litellm_settings.max_budget", "must be an amount");
    let p = problems(&format!(
        "{MODELS}litellm_settings:\n  max_budget: 1e12\n  budget_duration: 1d\n"
    ));
    has(&p, "litellm_settings.max_budget", "beyond any plausible budget");
    let p = problems(&format!(
        "{MODELS}litellm_settings:\n  max_budget: 5\n  budget_duration: 1y\n"
    ));
    has(&p, "litellm_settings.budget_duration", "unknown unit");
    let p = problems(&format!("{MODELS}litellm_settings:\n  max_budget: 5\n"));
    has(&p, "litellm_settings.budget_duration", "is needed with `max_budget`");
    let p = problems(&format!(
        "{MODELS}litellm_settings:\n  max_budget: 5\n  budget_duration: 1d\n  timezone: Mars/Olympus\n"
    ));
    has(&p, "litellm_settings.timezone", "not an IANA time zone");
    let p = problems(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n      max_budget: 3\n      budget_duration: 25h\n",
    );
    has(
        &p,
        "model_list[0] (m) litellm_params.budget_duration",
        "longer than a day",
    );
}

#[test]
fn a_budget_for_a_provider_the_list_does_not_use_is_ignored_with_a_warning() {
    // LiteLLM's provider_budget_routing.md example budgets five providers for
    // a list of one: it must start, each unused one named in a warning.
    let loaded = load(
        &format!(
            "{MODELS}router_settings:\n  provider_budget_config:\n    openai: {{budget_limit: 10, time_period: 1d}}\n    anthropic: {{budget_limit: 100, time_period: 10d}}\n    vertex_ai: {{budget_limit: 100, time_period: 12d}}\n"
        ),
        Path::new("."),
    )
    .expect("loads");
    for provider in ["anthropic", "vertex_ai"] {
        assert!(
            loaded.warnings.iter().any(|w| w.contains(&format!(
                "provider_budget_config.{provider}: no model_list entry uses provider `{provider}` (in use: openai); this budget is ignored"
            ))),
            "{provider}: {:#?}",
            loaded.warnings
        );
    }
    let scopes: Vec<_> = loaded.config.budgets.budgets.iter().map(|s| s.scope.clone()).collect();
    assert_eq!(scopes, vec![Scope::Provider("openai".into())]);
}

#[test]
fn budgets_on_things_that_do_not_exist_are_refused() {
    let p = problems(&format!(
        "{MODELS}router_settings:\n  provider_budget_config:\n    opneai:\n      budget_limit: 10\n      time_period: 1d\n"
    ));
    has(
        &p,
        "router_settings.provider_budget_config.opneai",
        "no model_list entry uses provider `opneai` (in use: openai)",
    );
    let p = problems(&format!(
        "{MODELS}router_settings:\n  provider_budget_config:\n    openai:\n      budget_limit: 10\n      time_period: 1d\n      limit: 3\n"
    ));
    has(&p, "router_settings.provider_budget_config.openai.limit", "unknown key");
    let with_budget = format!("{MODELS}litellm_settings:\n  max_budget: 5\n  budget_duration: 1d\n");
    let p = problems(&format!(
        "{with_budget}tollgate:\n  budgets:\n    on_limit:\n      gateway: {{action: fallback, fallback: nowhere}}\n"
    ));
    has(
        &p,
        "tollgate.budgets.on_limit.gateway.fallback",
        "`nowhere` is not a model_name",
    );
    let p = problems(&format!(
        "{with_budget}tollgate:\n  budgets:\n    on_limit:\n      client:bob: {{action: reject}}\n      deployment:7: {{action: reject}}\n"
    ));
    has(
        &p,
        "tollgate.budgets.on_limit.client:bob",
        "no budget is named `client:bob` (budgets: gateway)",
    );
    has(&p, "tollgate.budgets.on_limit.deployment:7", "no budget is named");
    let p = problems(&format!(
        "{with_budget}tollgate:\n  budgets:\n    on_limit:\n      gateway: {{action: fallback}}\n"
    ));
    has(
        &p,
        "tollgate.budgets.on_limit.gateway.fallback",
        "is needed with `action: fallback`",
    );
    let p = problems(&format!(
        "{with_budget}tollgate:\n  budgets:\n    on_limit:\n      gateway: {{action: throttle}}\n"
    ));
    has(&p, "tollgate.budgets.on_limit.gateway.action", "`throttle` is not");
}

#[test]
fn wrong_reader_settings_name_their_key() {
    let with_budget = format!("{MODELS}litellm_settings:\n  max_budget: 5\n  budget_duration: 1d\n");
    let p = problems(&format!(
        "{with_budget}tollgate:\n  budgets:\n    prometheus_url: ftp://x\n    refresh_interval: 30\n    soft_limits: [0.8, 1.5]\n    prometheus_matchers: '{{job=\"x\"}}'\n    prometheus_headers:\n      Authorization: file:/nonexistent/secret\n"
    ));
    has(&p, "tollgate.budgets.prometheus_url", "http(s) base URL");
    has(&p, "tollgate.budgets.refresh_interval", "more than 5 s");
    has(&p, "tollgate.budgets.soft_limits", "1.5 is not a fraction");
    has(&p, "tollgate.budgets.prometheus_matchers", "without braces");
    has(
        &p,
        "tollgate.budgets.prometheus_headers.Authorization",
        "cannot be read",
    );
    let p = problems(&format!(
        "{with_budget}tollgate:\n  budgets:\n    prometheus: http://x\n"
    ));
    has(&p, "tollgate.budgets", "unknown field `prometheus`");
}

#[tokio::test]
async fn a_hanging_prometheus_costs_one_refresh_interval_at_most() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let budgets = Budgets::new(settings(addr, Duration::from_millis(300)));
    let started = std::time::Instant::now();
    fleet::refresh(&budgets, &Upstream::new()).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?}");
    let fleet::Status::Stale { error, last_ok, .. } = budgets.snapshot().fleet else {
        panic!("not stale")
    };
    assert_eq!((error.as_str(), last_ok), ("timed out", None));
    // Nothing known about the fleet: this replica's own spend still counts.
    budgets.record(&CI, 10.0);
    assert!(matches!(budgets.admit(&CI), Verdict::Rejected { .. }));
    held.abort();
}
