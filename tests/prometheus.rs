//! A real Prometheus scrapes a running tollgate under test traffic: the
//! alert rules pass `promtool check rules`, and every expression of the
//! Grafana dashboard and of the rules returns data.
//!
//! Needs Debian's `prometheus` package (`prometheus` and `promtool` on the
//! PATH). Without it the test says so and passes, unless
//! `TOLLGATE_REQUIRE_PROMETHEUS=1` (CI), where it fails.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::process::Running;
use common::{post_json, send, stream_frames, Mock, Reply};

const MASTER_KEY: &str = "sk-master-prom-test-1";
const SCRIPT_KEY: &str = "sk-script-prom-test-2";
const IDE_KEY: &str = "sk-ide-prom-test-3";

/// How dashboard variables are filled in, as Grafana would for "All".
const VARIABLES: [(&str, &str); 7] = [
    ("$__rate_interval", "1m"),
    ("$__interval", "1m"),
    ("$__range", "1h"),
    ("$model", ".*"),
    ("$client", ".*"),
    ("$currency", "EUR"),
    ("$budget", "100"),
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `name` on the PATH, if there.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// The Prometheus binaries, or `None` when the test may be skipped.
fn binaries() -> Option<(PathBuf, PathBuf)> {
    match (on_path("prometheus"), on_path("promtool")) {
        (Some(prometheus), Some(promtool)) => Some((prometheus, promtool)),
        _ if std::env::var("TOLLGATE_REQUIRE_PROMETHEUS").as_deref() == Ok("1") => {
            panic!("prometheus/promtool not on the PATH but TOLLGATE_REQUIRE_PROMETHEUS=1 (apt-get install prometheus)")
        }
        _ => {
            eprintln!("SKIPPED: prometheus and promtool are not installed (apt-get install prometheus)");
            None
        }
    }
}

#[test]
fn alert_rules_pass_promtool() {
    let Some((_, promtool)) = binaries() else { return };
    let output = Command::new(promtool)
        .args(["check", "rules"])
        .arg(repo("grafana/alerts.rules.yml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A Prometheus process, killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(binary: &Path, dir: &Path, target: &str) -> Prometheus {
        let port = free_port();
        let config = dir.join("prometheus.yml");
        let rules = repo("grafana/alerts.rules.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files: [\"{}\"]\n\
                 scrape_configs:\n  - job_name: tollgate\n    static_configs:\n      - targets: [\"{target}\"]\n",
                rules.display()
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
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            let ready = tokio::time::timeout(Duration::from_secs(2), try_get(format!("{}/-/ready", self.url)));
            if let Ok(Some(200)) = ready.await {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "prometheus not ready:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// An instant query's result vector (empty on any error).
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let url = format!("{}/api/v1/query?query={}", self.url, encode(expr));
        let answer = send("GET", &url, &[], "").await;
        let body: Value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        match &body["data"]["result"] {
            Value::Array(result) => Ok(result.clone()),
            // A scalar result (`vector(...)` is a vector; `1 + 1` is a scalar).
            other => Ok(vec![other.clone()]),
        }
    }
}

async fn try_get(url: String) -> Option<u16> {
    let client = common::http_client();
    let request = http::Request::get(url).body(http_body_util::Full::default()).ok()?;
    client.request(request).await.ok().map(|r| r.status().as_u16())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every PromQL expression of the dashboard, variables filled in, with
/// where it comes from; template variable queries become `count by`.
fn dashboard_expressions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("grafana/tollgate-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(panel) = panels.pop() {
        if let Some(nested) = panel["panels"].as_array() {
            panels.extend(nested);
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            out.push((format!("panel {:?}", panel["title"]), fill(expr)));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        let Some(query) = variable["definition"].as_str() else {
            continue;
        };
        // label_values(metric, label): the label must have values.
        let inner = query.trim_start_matches("label_values(").trim_end_matches(')');
        let (metric, label) = inner.split_once(',').expect("label_values(metric, label)");
        let expr = format!("count by ({label}) ({metric}{{{label}!=\"\"}})", label = label.trim());
        out.push((format!("variable {}", variable["name"]), expr));
    }
    assert!(out.len() > 20, "the dashboard has its panels");
    out
}

fn fill(expr: &str) -> String {
    let mut expr = expr.to_owned();
    for (name, value) in VARIABLES {
        expr = expr.replace(name, value);
    }
    assert!(!expr.contains('$'), "a variable is left in {expr}");
    expr
}

/// Every rule's expression; an alert's without its final threshold, so
/// that it returns data when the alert does not fire.
fn rule_expressions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("grafana/alerts.rules.yml")).unwrap();
    let rules: Value = serde_saphyr::from_str(&text).unwrap();
    let mut out = Vec::new();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            let expr = rule["expr"].as_str().unwrap().trim();
            let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
            let expr = match rule.get("alert") {
                Some(_) => without_threshold(expr),
                None => expr.to_owned(),
            };
            out.push((format!("rule {name}"), expr));
        }
    }
    assert!(out.len() >= 5, "the rules file has its alerts");
    out
}

/// `a > 5` → `a`: the alert's condition without its threshold.
fn without_threshold(expr: &str) -> String {
    let mut words: Vec<&str> = expr.split_whitespace().collect();
    let threshold = words.pop().unwrap();
    assert!(threshold.parse::<f64>().is_ok(), "alert ends in a threshold: {expr}");
    let op = words.pop().unwrap();
    assert!(
        matches!(op, ">" | "<" | ">=" | "<=" | "==" | "!="),
        "alert ends in a comparison: {expr}"
    );
    words.join(" ")
}

fn config(ok: &Mock, flaky: &Mock) -> String {
    format!(
        "model_list:
  - model_name: smart
    litellm_params: {{model: openai/gpt-4o, api_base: {flaky}, api_key: os.environ/TG_UPSTREAM_KEY}}
  - model_name: cheap
    litellm_params: {{model: openai/gpt-4o-mini, api_base: {ok}, api_key: os.environ/TG_UPSTREAM_KEY}}
  - model_name: local
    litellm_params: {{model: openai/my-finetune-xyz, api_base: {ok}}}
general_settings:
  master_key: os.environ/TG_MASTER_KEY
router_settings:
  num_retries: 1
  fallbacks: [{{smart: [cheap]}}]
litellm_settings:
  max_budget: 100
  budget_duration: 1mo
tollgate:
  clients:
    - {{name: script, key: os.environ/TG_SCRIPT_KEY}}
    - {{name: ide, key: os.environ/TG_IDE_KEY}}
  spend: {{currency: EUR, per_usd: 0.92}}
",
        ok = ok.base(),
        flaky = flaky.base()
    )
}

/// One round of mixed traffic: fallbacks, streams, unpriced and unknown
/// models, two clients.
async fn traffic(gateway: &Running) {
    let url = gateway.url("/v1/chat/completions");
    let script = format!("Bearer {SCRIPT_KEY}");
    let ide = format!("Bearer {IDE_KEY}");
    let chat = |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    for (key, model) in [
        (&script, "smart"),
        (&script, "cheap"),
        (&script, "local"),
        (&ide, "cheap"),
        (&ide, "nope"),
    ] {
        post_json(&url, &[("authorization", key.as_str())], chat(model)).await;
    }
    let mut stream = chat("cheap");
    stream["stream"] = json!(true);
    let (status, _) = stream_frames(&url, &[("authorization", ide.as_str())], stream).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_rules_return_data_from_a_real_prometheus() {
    let Some((prometheus, _)) = binaries() else { return };
    let ok = Mock::start().await;
    let flaky = Mock::start().await;
    flaky.always(Reply::Json(
        500,
        json!({"error": {"message": "overloaded", "type": "server_error"}}),
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config(&ok, &flaky)).unwrap();
    let env = [
        ("TG_MASTER_KEY", MASTER_KEY),
        ("TG_SCRIPT_KEY", SCRIPT_KEY),
        ("TG_IDE_KEY", IDE_KEY),
        ("TG_UPSTREAM_KEY", "sk-upstream-prom-test-4"),
    ];
    let gateway = Running::start(&path, &[], &env);
    let prom = Prometheus::start(&prometheus, dir.path(), &gateway.addr);
    prom.wait_ready().await;

    // Traffic across several scrapes, and a reload.
    for round in 0..8 {
        traffic(&gateway).await;
        if round == 2 {
            gateway.signal("HUP");
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    let mut expressions = dashboard_expressions();
    expressions.extend(rule_expressions());
    let start = Instant::now();
    let mut empty: Vec<String>;
    loop {
        empty = Vec::new();
        for (source, expr) in &expressions {
            match prom.query(expr).await {
                Ok(result) if !result.is_empty() => {}
                Ok(_) => empty.push(format!("{source}: no data: {expr}")),
                Err(error) => panic!("{source}: {error}: {expr}"),
            }
        }
        if empty.is_empty() || start.elapsed() > Duration::from_secs(30) {
            break;
        }
        // Keep the counters moving while waiting for more scrapes.
        traffic(&gateway).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let up = prom.query("up{job=\"tollgate\"} == 1").await.unwrap();
    assert_eq!(up.len(), 1, "Prometheus scrapes tollgate:\n{}", prom.log());
    assert!(empty.is_empty(), "expressions without data:\n{}", empty.join("\n"));
}

#[test]
fn thresholds_come_off_alert_expressions() {
    assert_eq!(without_threshold("sum(x) > 100"), "sum(x)");
    assert_eq!(without_threshold("a\n  / b\n  > 0.05"), "a / b");
    assert_eq!(encode("a{b=\"c\"} > 1"), "a%7Bb%3D%22c%22%7D%20%3E%201");
}
