//! A gateway-wide budget held by two tollgate replicas through a real Prometheus scraping both: traffic split across them exhausts it and both refuse within the documented bound, a replica restarted mid-period still refuses, and with Prometheus stopped each keeps the last figure and says it is stale.
//!
//! Needs Debian's `prometheus` package. Without it the test says so and
//! passes, unless `TOLLGATE_REQUIRE_PROMETHEUS=1` (CI), where it fails.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::process::Running;
use common::{post_json, send, Mock};

const MASTER_KEY: &str = "sk-master-fleet-1";
/// The gateway-wide budget, per calendar month.
const LIMIT: f64 = 100.0;
/// Each echo answer reports 7 tokens, priced at 1 each.
const COST: f64 = 7.0;
/// The replicas' refresh interval and Prometheus' scrape interval.
const REFRESH: f64 = 1.0;
const SCRAPE: f64 = 1.0;
/// `GET /metrics` serves the same page for a second: a scrape can be that
/// much older than its timestamp.
const PAGE_CACHE: f64 = 1.0;
/// The pause between two requests of the split traffic.
const PACE: Duration = Duration::from_millis(200);

fn prometheus_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("prometheus"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert_ne!(
            std::env::var("TOLLGATE_REQUIRE_PROMETHEUS").as_deref(),
            Ok("1"),
            "prometheus is not on the PATH (apt-get install prometheus)"
        );
        eprintln!("SKIPPED: prometheus is not installed (apt-get install prometheus)");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A Prometheus process scraping `targets` every second, killed on drop.
struct Prometheus {
    child: Child,
    log: PathBuf,
}

impl Prometheus {
    fn start(binary: &Path, dir: &Path, port: u16, targets: &[String]) -> Prometheus {
        let config = dir.join("prometheus.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: {SCRAPE}s\nscrape_configs:\n  - job_name: tollgate\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .unwrap();
        let log = dir.join("prometheus.log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Prometheus { child, log }
    }

    async fn wait_ready(&self, url: &str) {
        let start = Instant::now();
        loop {
            let request = http::Request::get(format!("{url}/-/ready"))
                .body(http_body_util::Full::default())
                .unwrap();
            let ready = tokio::time::timeout(Duration::from_secs(2), common::http_client().request(request)).await;
            if matches!(ready, Ok(Ok(r)) if r.status() == 200) {
                return;
            }
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "prometheus not ready:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until Prometheus scrapes `targets` replicas.
async fn scraping(prom_url: &str, targets: usize) {
    let start = Instant::now();
    let query = format!("{prom_url}/api/v1/query?query=up%3D%3D1");
    loop {
        let answer = send("GET", &query, &[], "").await;
        if answer.json()["data"]["result"].as_array().map(Vec::len) == Some(targets) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "prometheus scrapes no replica"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until Prometheus holds two samples of `count` cost series.
async fn series_scraped(prom_url: &str, count: usize) {
    let start = Instant::now();
    let query = format!("{prom_url}/api/v1/query?query=count_over_time(tollgate_cost_total%5B30s%5D)%3E%3D2");
    loop {
        let answer = send("GET", &query, &[], "").await;
        if answer.json()["data"]["result"].as_array().map(Vec::len) == Some(count) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "prometheus holds no cost series"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn config(mock: &Mock, prometheus: &str) -> String {
    format!(
        "model_list:
  - model_name: gpt
    litellm_params:
      model: openai/gpt-upstream
      api_base: {mock}
      api_key: sk-upstream
      input_cost_per_token: 1
      output_cost_per_token: 1
general_settings:
  master_key: os.environ/TG_MASTER
litellm_settings:
  max_budget: {LIMIT}
  budget_duration: 1mo
tollgate:
  budgets:
    prometheus_url: {prometheus}
    prometheus_matchers: job=\"tollgate\"
    refresh_interval: {REFRESH}
",
        mock = mock.base()
    )
}

/// One replica, its metrics on a fixed admin port so Prometheus finds it
/// again after a restart.
fn replica(path: &Path, admin: u16) -> Running {
    let admin = admin.to_string();
    Running::start(
        path,
        &["--admin-port", &admin, "--admin-host", "127.0.0.1", "--no-watch"],
        &[("TG_MASTER", MASTER_KEY)],
    )
}

async fn ask(replica: &Running) -> u16 {
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]});
    let auth = format!("Bearer {MASTER_KEY}");
    let answer = post_json(&replica.url("/v1/chat/completions"), &[("authorization", &auth)], body).await;
    if answer.status == 429 {
        assert_eq!(answer.error_code(), "budget_exceeded");
        assert!(answer.header("retry-after").is_some());
    }
    answer.status.as_u16()
}

/// The readiness page's budget state (asserting it stays 200).
async fn budget_state(replica: &Running) -> Value {
    let answer = send("GET", &replica.url("/health/readiness"), &[], "").await;
    assert_eq!(answer.status, 200, "a spent budget is not an unhealthy replica");
    answer.json()["budgets"].clone()
}

fn gateway_spent(state: &Value) -> f64 {
    state["budgets"][0]["spent"].as_f64().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_hold_one_budget_through_prometheus() {
    let Some(binary) = prometheus_binary() else { return };
    let started = Instant::now();
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (prom_port, admin_a, admin_b) = (free_port(), free_port(), free_port());
    let prom_url = format!("http://127.0.0.1:{prom_port}");
    let targets = [format!("127.0.0.1:{admin_a}"), format!("127.0.0.1:{admin_b}")];
    let mut prometheus = Prometheus::start(&binary, dir.path(), prom_port, &targets);
    prometheus.wait_ready(&prom_url).await;
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config(&mock, &prom_url)).unwrap();
    let a = replica(&path, admin_a);
    let mut b = replica(&path, admin_b);
    assert_eq!(budget_state(&a).await["source"]["state"], "fresh");
    // Prometheus hands new targets to its scrapers only every few seconds.
    scraping(&prom_url, 2).await;
    // `increase()` never counts a series' first sample: one request on each
    // replica, scraped twice, makes that loss one request per replica.
    assert_eq!((ask(&a).await, ask(&b).await), (200, 200));
    series_scraped(&prom_url, 2).await;
    let mut admitted = 2u32;

    // Split traffic, alternating, until both replicas refuse.
    let mut crossed_at: Option<Instant> = None;
    let mut refused = [None::<Instant>, None];
    let deadline = Instant::now() + Duration::from_secs(30);
    while refused.iter().any(Option::is_none) {
        assert!(Instant::now() < deadline, "both replicas should refuse by now");
        for (i, replica) in [&a, &b].into_iter().enumerate() {
            match ask(replica).await {
                200 => {
                    admitted += 1;
                    if f64::from(admitted) * COST >= LIMIT {
                        crossed_at.get_or_insert_with(Instant::now);
                    }
                }
                429 => {
                    refused[i].get_or_insert_with(Instant::now);
                }
                other => panic!("unexpected status {other}"),
            }
            tokio::time::sleep(PACE).await;
        }
    }
    let spent = f64::from(admitted) * COST;
    let crossed = crossed_at.expect("the budget was spent before both refused");
    // The documented bound: each replica's spend over a refresh plus a
    // scrape interval (plus the page's age), the request in flight, and
    // `increase()` missing the first sample of each replica's series.
    let window = REFRESH + SCRAPE + PAGE_CACHE;
    let per_replica = COST / (2.0 * PACE.as_secs_f64()) * window;
    let bound = 2.0 * per_replica + COST + 2.0 * COST;
    let overshoot = spent - LIMIT;
    let lag = refused
        .iter()
        .flatten()
        .map(|t| t.saturating_duration_since(crossed))
        .max()
        .unwrap();
    eprintln!("spent {spent} of {LIMIT}: overshoot {overshoot} (bound {bound}); both refused {lag:?} after the limit");
    assert!(spent >= LIMIT, "no replica refuses before the budget is spent: {spent}");
    if overshoot > bound {
        let q = send(
            "GET",
            &format!("{prom_url}/api/v1/query?query=tollgate_cost_total%5B20s%5D"),
            &[],
            "",
        )
        .await;
        panic!(
            "overshoot {overshoot} beyond the bound {bound}\nA {}\nB {}\n{}\n{}",
            budget_state(&a).await,
            budget_state(&b).await,
            String::from_utf8_lossy(&q.body),
            a.output()
                .lines()
                .filter(|l| !l.contains("access"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(
        lag <= Duration::from_secs_f64(window + 1.0),
        "both refuse within the bound: {lag:?}"
    );

    // A replica restarted mid-period reads the fleet's spend before serving.
    drop(b);
    b = replica(&path, admin_b);
    let state = budget_state(&b).await;
    assert_eq!(state["source"]["state"], "fresh", "{state}");
    assert!(gateway_spent(&state) >= LIMIT - 2.0 * COST, "{state}");
    assert_eq!(ask(&b).await, 429, "the restarted replica still enforces");

    // Prometheus goes away: the last figure is kept, and said to be stale.
    prometheus.stop();
    let stale_by = Instant::now() + Duration::from_secs(10);
    let state = loop {
        let state = budget_state(&a).await;
        if state["source"]["state"] == "stale" {
            break state;
        }
        assert!(Instant::now() < stale_by, "the reader should report stale: {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(state["source"]["last_read_at"].is_i64(), "{state}");
    assert!(
        gateway_spent(&state) >= LIMIT - 2.0 * COST,
        "the last figure is kept: {state}"
    );
    assert_eq!(ask(&a).await, 429, "still enforcing on the last figure");
    assert_eq!(ask(&b).await, 429);
    // `/metrics` is rendered at most once a second, and Prometheus may have
    // scraped it just before it stopped: the stale state shows on a later render.
    let rendered_by = Instant::now() + Duration::from_secs(3);
    let page = loop {
        let metrics = send("GET", &a.url("/metrics"), &[], "").await;
        let page = String::from_utf8_lossy(&metrics.body).to_string();
        let stale_gauge = page
            .lines()
            .any(|l| l.starts_with("tollgate_budget_source{") && l.contains("state=\"stale\"") && l.ends_with(" 1"));
        if stale_gauge {
            break page;
        }
        assert!(Instant::now() < rendered_by, "the stale state is a metric:\n{page}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(page.contains("tollgate_budget_remaining{"), "{page}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    drop((a, b));
}
