//! Hardening: bad config files, reloads and secrets (issue 11, items 3, 5, 6, 9).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tollgate::reload::Reloader;

use crate::common::process::{Running, BIN};
use crate::common::*;

/// Stands for every secret, credential and internal hostname a config holds.
const CANARY: &str = "sk-canary-5e2d";
const CANARY_HOST: &str = "canary-db.corp.internal";

fn good(mock_base: &str, name: &str) -> String {
    format!("model_list:\n  - model_name: {name}\n    litellm_params:\n      model: openai/x\n      api_base: {mock_base}\n")
}

/// One model entry with `line` added to its `litellm_params`.
fn entry_with(line: &str) -> String {
    format!("model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/x\n{line}\n")
}

/// Broken configs whose broken line carries the canary, one kind of mistake each.
fn leaky_configs() -> Vec<String> {
    vec![
        // YAML syntax errors: the parser's snippet would quote these lines.
        entry_with(&format!("      api_key: \"{CANARY}")),
        entry_with(&format!(
            "      api_base: http://admin:{CANARY}@{CANARY_HOST}:8080/v1 : x"
        )),
        format!("model_list:\n  - model_name: [{CANARY}, {CANARY_HOST}\n"),
        entry_with(&format!("      headers: {CANARY}")),
        // Type and value errors: serde and the checks would echo the value.
        entry_with(&format!("      rpm: {CANARY}")),
        entry_with(&format!("      timeout: {CANARY}")),
        entry_with(&format!("      mock_response: [{CANARY}]")),
        format!("{}router_settings:\n  routing_strategy: {CANARY}\n", entry_with("")),
        format!(
            "{}tollgate:\n  clients:\n    - name: c\n      key: k\n      models: [{CANARY}]\n",
            entry_with("")
        ),
        format!("{}tollgate:\n  spend:\n    currency: {CANARY}\n", entry_with("")),
        // Names are content too: the place is given by position.
        // (A header the gateway owns: an `ftp://` base would only disable the entry.)
        format!("model_list:\n  - model_name: {CANARY}\n    litellm_params:\n      model: openai/x\n      headers: {{Host: x}}\n"),
        format!("{}tollgate:\n  clients:\n    - name: {CANARY}\n", entry_with("")),
    ]
}

fn assert_no_content(what: &str, text: &str) {
    assert!(!text.contains("canary"), "{what} shows the config's content:\n{text}");
}

/// Runs the binary to its end, or kills it at `limit` and fails. The
/// address space is capped so a read without limit fails rather than
/// exhausting the machine.
fn run_bounded(args: &[&str], limit: Duration) -> (bool, String) {
    let script = "ulimit -v 4000000; exec \"$0\" \"$@\"";
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(BIN)
        .args(args)
        .env_remove("TOLLGATE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
            return (status.success(), text);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tollgate {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn readiness(url: &str) -> Value {
    send("GET", url, &[], "").await.json()
}

/// Polls readiness until `done` holds of its `config` status.
async fn wait_for_status(url: &str, what: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let ready = readiness(url).await;
        if done(&ready["config"]) {
            return ready;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}: {ready}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Item 3: a failed reload, `tollgate check` and a refused start show where
/// and what, never the file's text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_shows_place_and_kind_but_never_its_text() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, good(&mock.base(), "m")).unwrap();
    // SIGHUP instead of the watcher: exactly one reload per broken file.
    let running = Running::start(&path, &["--no-watch"], &[]);
    let url = running.url("/health/readiness");

    for (i, broken) in leaky_configs().iter().enumerate() {
        std::fs::write(&path, broken).unwrap();
        running.signal("HUP");
        let ready = wait_for_status(&url, "a refused reload", Duration::from_secs(5), |c| {
            c["reloads_failed"] == i + 1
        })
        .await;
        let shown = ready.to_string();
        assert_no_content(&format!("readiness after broken config {i}"), &shown);
        let error = ready["config"]["last_error"].as_str().unwrap_or_default();
        assert!(
            error.contains("line")
                || error.contains("model_list[0]")
                || error.contains("_settings.")
                || error.contains("tollgate."),
            "config {i}: the error names its place: {error}"
        );

        let file = dir.path().join(format!("broken{i}.yaml"));
        std::fs::write(&file, broken).unwrap();
        let file = file.to_str().unwrap();
        let (ok, out) = run_bounded(&["check", "--config", file], Duration::from_secs(10));
        assert!(!ok, "check refuses config {i}: {out}");
        assert_no_content(&format!("`tollgate check` of broken config {i}"), &out);
        let (ok, out) = run_bounded(&["--config", file, "--port", "0"], Duration::from_secs(10));
        assert!(!ok, "tollgate does not start with config {i}: {out}");
        assert_no_content(&format!("the refused start with broken config {i}"), &out);
    }
    // Still serving the first config.
    let models = send("GET", &running.url("/v1/models"), &[], "").await;
    assert_eq!(models.status, 200);
    running.signal("TERM");
    let (_, logs) = running.wait(Duration::from_secs(10));
    assert!(logs.contains("reload refused"), "{logs}");
    assert_no_content("the log", &logs);
}

/// A `model` naming no provider tollgate finds loads that entry disabled
/// (issue 14) instead of refusing the file: its warning, `check`'s listing
/// and the refusal of `--strict` say where, never the value.
#[test]
fn an_unknown_model_value_disables_its_entry_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unknown.yaml");
    let yaml = format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: {CANARY}@{CANARY_HOST}\n  - model_name: ok\n    litellm_params:\n      model: openai/x\n"
    );
    std::fs::write(&file, yaml).unwrap();
    let file = file.to_str().unwrap();
    let (ok, out) = run_bounded(&["check", "--config", file], Duration::from_secs(10));
    assert!(ok && out.contains("model_list[0]"), "{out}");
    assert_no_content("`tollgate check` of an unknown model value", &out);
    let (ok, out) = run_bounded(&["check", "--strict", "--config", file], Duration::from_secs(10));
    assert!(!ok, "{out}");
    assert_no_content("`tollgate check --strict` of an unknown model value", &out);
}

/// Every numeric key, with where its problem is reported.
const NUMERIC_KEYS: &[(&str, &str)] = &[
    ("L timeout", "litellm_params.timeout"),
    ("L stream_timeout", "litellm_params.stream_timeout"),
    ("L rpm", "litellm_params.rpm"),
    ("L tpm", "litellm_params.tpm"),
    ("L weight", "litellm_params.weight"),
    ("L order", "litellm_params.order"),
    ("L input_cost_per_token", "litellm_params.input_cost_per_token"),
    ("L output_cost_per_token", "litellm_params.output_cost_per_token"),
    (
        "L cache_read_input_token_cost",
        "litellm_params.cache_read_input_token_cost",
    ),
    (
        "L cache_creation_input_token_cost",
        "litellm_params.cache_creation_input_token_cost",
    ),
    (
        "L output_cost_per_reasoning_token",
        "litellm_params.output_cost_per_reasoning_token",
    ),
    (
        "general_settings max_request_size_mb",
        "general_settings.max_request_size_mb",
    ),
    ("router_settings num_retries", "router_settings.num_retries"),
    ("router_settings max_fallbacks", "router_settings.max_fallbacks"),
    ("router_settings allowed_fails", "router_settings.allowed_fails"),
    ("router_settings cooldown_time", "router_settings.cooldown_time"),
    ("router_settings timeout", "router_settings.timeout"),
    ("router_settings stream_timeout", "router_settings.stream_timeout"),
    (
        "router_settings retry_policy TimeoutErrorRetries",
        "router_settings.retry_policy.TimeoutErrorRetries",
    ),
    ("litellm_settings num_retries", "litellm_settings.num_retries"),
    ("litellm_settings max_fallbacks", "litellm_settings.max_fallbacks"),
    ("litellm_settings allowed_fails", "litellm_settings.allowed_fails"),
    ("litellm_settings cooldown_time", "litellm_settings.cooldown_time"),
    ("litellm_settings timeout", "litellm_settings.timeout"),
    ("litellm_settings request_timeout", "litellm_settings.request_timeout"),
    ("litellm_settings stream_timeout", "litellm_settings.stream_timeout"),
    (
        "litellm_settings retry_policy RateLimitErrorRetries",
        "litellm_settings.retry_policy.RateLimitErrorRetries",
    ),
    ("tollgate stream_idle_timeout", "tollgate.stream_idle_timeout"),
    (
        "tollgate telemetry export_interval",
        "tollgate.telemetry.export_interval",
    ),
    ("tollgate spend per_usd", "tollgate.spend.per_usd"),
];

/// A config setting `key` (as in `NUMERIC_KEYS`) to `value`.
fn config_setting(key: &str, value: &str) -> String {
    let parts: Vec<&str> = key.split(' ').collect();
    match parts.as_slice() {
        ["L", field] => entry_with(&format!("      {field}: {value}")),
        [section, path @ ..] => {
            let mut yaml = format!("{}{section}:\n", entry_with(""));
            for (depth, part) in path.iter().enumerate() {
                let indent = "  ".repeat(depth + 1);
                if depth + 1 == path.len() {
                    yaml.push_str(&format!("{indent}{part}: {value}\n"));
                } else {
                    yaml.push_str(&format!("{indent}{part}:\n"));
                }
            }
            if *section == "tollgate" && path.first() == Some(&"spend") {
                yaml.push_str("    currency: EUR\n");
            }
            yaml
        }
        [] => unreachable!(),
    }
}

/// Item 5: every number in range loads; every one past its bound, NaN,
/// infinite or negative is refused at load, naming its key.
#[test]
fn every_numeric_key_is_bounded_at_load() {
    const BAD: &[&str] = &[
        "1e20", "1e300", "9.3e18", "1e999", ".nan", ".inf", "-.inf", "-1", "\"1e20\"", "NaN",
    ];
    let env = |_: &str| None;
    for (key, place) in NUMERIC_KEYS {
        let fine = config_setting(key, "1");
        if let Err(problems) = tollgate::config::load_str(&fine, Path::new("."), &env) {
            panic!("{key}: 1 is in range: {problems:?}");
        }
        for value in BAD {
            let yaml = config_setting(key, value);
            let problems = match tollgate::config::load_str(&yaml, Path::new("."), &env) {
                Ok(_) => panic!("{key}: {value} loaded"),
                Err(problems) => problems,
            };
            assert!(
                problems.iter().any(|p| p.at.ends_with(place)),
                "{key}: {value}: the problem names `{place}`: {problems:?}"
            );
        }
    }
    let huge_body = config_setting("general_settings max_request_size_mb", "4096");
    assert!(tollgate::config::load_str(&huge_body, Path::new("."), &env).is_err());
}

/// Reloads `path` into `gw` on every change, as the binary does.
fn reload_on_change(path: &Path, gw: &TestGateway) {
    Reloader {
        path: path.to_path_buf(),
        gateway: gw.gateway.clone(),
        loopback: true,
    }
    .spawn(true);
}

async fn wait_until(what: &str, limit: Duration, check: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "{what} did not happen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// Item 5 on a running gateway: a reload with a duration that used to panic
/// the loader, or abort at the first request, is refused; the gateway serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_duration_on_reload_is_refused_and_the_gateway_serves_on() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, good(&mock.base(), "m")).unwrap();
    let loaded = tollgate::config::load_file(&path, &|_| None).unwrap();
    let gw = TestGateway::serve(loaded.config).await;
    reload_on_change(&path, &gw);
    let extras = [
        "router_settings:\n  cooldown_time: 1e20\n",
        "litellm_settings:\n  request_timeout: 9.3e18\n",
        "tollgate:\n  stream_idle_timeout: 1e300\n",
        "general_settings:\n  max_request_size_mb: 1e300\n",
    ];
    for (i, extra) in extras.iter().enumerate() {
        std::fs::write(&path, format!("{}{extra}", good(&mock.base(), "m"))).unwrap();
        let status = || gw.gateway.status();
        wait_until(&format!("refusal {i}"), Duration::from_secs(5), || {
            status().reloads_failed == i as u64 + 1
        })
        .await;
        assert!(status()
            .last_error
            .unwrap_or_default()
            .contains(extra.split(':').next().unwrap()));
        let answer = post_json(&gw.url("/v1/chat/completions"), &[], serde_json::json!({"model": "m"})).await;
        assert_eq!(answer.status, 200, "still serving after refusal {i}");
    }
}

/// Item 6: a log written every 20 ms beside the config no longer holds a
/// reload back: the config change applies within ~1.5 s, and so does a
/// rotated `file:` secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_neighbour_file_does_not_stall_reloads() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(dir.path().join("key"), "sk-old\n").unwrap();
    let with_key = |name: &str| format!("{}      api_key: file:key\n", good(&mock.base(), name));
    std::fs::write(&path, with_key("before")).unwrap();
    let loaded = tollgate::config::load_file(&path, &|_| None).unwrap();
    let gw = TestGateway::serve(loaded.config).await;
    reload_on_change(&path, &gw);

    // `tollgate --config proxy_config.yaml > tollgate.log`, under load.
    let stop = Arc::new(AtomicBool::new(false));
    let log = dir.path().join("tollgate.log");
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(log).unwrap();
            while !stop.load(Ordering::Relaxed) {
                writeln!(file, "level=INFO request done").unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    std::fs::write(&path, with_key("after")).unwrap();
    let took = wait_until("the config change", Duration::from_millis(1500), || {
        gw.gateway.config().group("after").is_some()
    })
    .await;
    println!("config change applied after {took:?} beside a busy log");

    std::fs::write(dir.path().join("key"), "sk-rotated\n").unwrap();
    let key = || {
        let config = gw.gateway.config();
        config.deployments[0].api_key.as_ref().map(|k| k.expose().to_string())
    };
    let took = wait_until("the secret rotation", Duration::from_millis(1500), || {
        key().as_deref() == Some("sk-rotated")
    })
    .await;
    println!("secret rotation applied after {took:?} beside a busy log");
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

/// `file:` references that must be refused: a device that never ends, a
/// FIFO that never opens, a file past the size cap.
fn hostile_secrets(dir: &Path) -> Vec<(&'static str, PathBuf, &'static str)> {
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let big = dir.join("big");
    let cap = tollgate::config::MAX_SECRET_FILE_BYTES as usize;
    std::fs::write(&big, vec![b'k'; cap + 1]).unwrap();
    // /dev/zero last: a reader without limits is caught by the FIFO first.
    vec![
        ("a FIFO", fifo, "not a regular file"),
        ("an oversize file", big, "larger than"),
        ("/dev/zero", PathBuf::from("/dev/zero"), "not a regular file"),
    ]
}

/// Item 9 at start: `tollgate check` and `tollgate --config` fail fast,
/// naming the key.
#[test]
fn hostile_secret_files_fail_check_and_start_fast() {
    let dir = tempfile::tempdir().unwrap();
    for (what, secret, expect) in hostile_secrets(dir.path()) {
        let path = dir.path().join("proxy_config.yaml");
        std::fs::write(&path, entry_with(&format!("      api_key: file:{}", secret.display()))).unwrap();
        let path = path.to_str().unwrap();
        let started = Instant::now();
        let (ok, out) = run_bounded(&["check", "--config", path], Duration::from_secs(5));
        assert!(!ok, "check refuses {what}: {out}");
        assert!(
            out.contains("litellm_params.api_key") && out.contains(expect),
            "{what}: {out}"
        );
        let (ok, out) = run_bounded(&["--config", path, "--port", "0"], Duration::from_secs(5));
        assert!(!ok, "no start with {what}: {out}");
        assert!(out.contains(expect), "{what}: {out}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{what} took {:?}",
            started.elapsed()
        );
    }
}

/// Item 9 on reload: the running gateway refuses each hostile secret
/// quickly, says which key, and keeps serving its last good config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_secret_files_on_reload_keep_the_last_good_config() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, good(&mock.base(), "m")).unwrap();
    let running = Running::start(&path, &["--no-watch"], &[]);
    let url = running.url("/health/readiness");
    for (i, (what, secret, expect)) in hostile_secrets(dir.path()).into_iter().enumerate() {
        let yaml = format!("{}      api_key: file:{}\n", good(&mock.base(), "m"), secret.display());
        std::fs::write(&path, yaml).unwrap();
        running.signal("HUP");
        let ready = wait_for_status(&url, what, Duration::from_secs(3), |c| c["reloads_failed"] == i + 1).await;
        let error = ready["config"]["last_error"].as_str().unwrap_or_default();
        assert!(
            error.contains("litellm_params.api_key") && error.contains(expect),
            "{what}: {error}"
        );
        assert_eq!(
            ready["config"]["generation"], 1,
            "{what}: the first config still serves"
        );
        let answer = post_json(
            &running.url("/v1/chat/completions"),
            &[],
            serde_json::json!({"model": "m"}),
        )
        .await;
        assert_eq!(answer.status, 200, "{what} (step {i}): still serving");
    }
}

/// Watching only the files that matter still follows a secret file the
/// config names before it exists: the refused reload applies once it appears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_file_that_appears_later_is_picked_up() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, good(&mock.base(), "m")).unwrap();
    let loaded = tollgate::config::load_file(&path, &|_| None).unwrap();
    let gw = TestGateway::serve(loaded.config).await;
    reload_on_change(&path, &gw);

    let later = format!("{}      api_key: file:late-key\n", good(&mock.base(), "m"));
    std::fs::write(&path, later).unwrap();
    wait_until("the refusal", Duration::from_secs(3), || {
        gw.gateway.status().reloads_failed >= 1
    })
    .await;
    std::fs::write(dir.path().join("late-key"), "sk-late\n").unwrap();
    let key = || {
        let config = gw.gateway.config();
        config.deployments[0].api_key.as_ref().map(|k| k.expose().to_string())
    };
    wait_until("the late secret", Duration::from_millis(1500), || {
        key().as_deref() == Some("sk-late")
    })
    .await;
}
