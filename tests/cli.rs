//! The `tollgate` binary as users run it: flags, `check`, refusing to serve
//! unauthenticated beyond loopback, SIGTERM drain, log formats, no secrets in output.

mod common;

use std::process::Command;
use std::time::Duration;

use common::process::{Running, BIN};
use common::*;
use serde_json::json;

fn write_config(dir: &tempfile::TempDir, yaml: &str) -> std::path::PathBuf {
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn help_and_version() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for word in ["--config", "--host", "--port", "check", "TOLLGATE_CONFIG"] {
        assert!(text.contains(word), "{word} in --help: {text}");
    }
    let version = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("tollgate {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_passes_good_configs_and_lists_every_problem_of_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(&dir, "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/x\n      api_key: os.environ/TG_TEST_KEY\n      tags: [x]\n");
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&good)
        .env("TG_TEST_KEY", "v")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok:") && stdout.contains("litellm_params.tags"),
        "{stdout}"
    );

    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&good)
        .env_remove("TG_TEST_KEY")
        .output()
        .unwrap();
    // An entry's unset variable disables that entry only (LiteLLM fails it
    // when called): a warning naming it, and the gateway would start.
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "model_list[0]: cannot be served (litellm_params.api_key: environment variable TG_TEST_KEY is not set)"
        ),
        "{stdout}"
    );

    let bad = write_config(&dir, "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n  - model_name: b\n    litellm_params:\n      model: openai/x\n      timeout: soon\ngeneral_settings:\n  master_key: os.environ/TG_UNSET_A\n");
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 problem(s)")
            && stderr.contains("TG_UNSET_A")
            && stderr.contains("model_list[1] litellm_params.timeout"),
        "{stderr}"
    );

    let out = Command::new(BIN)
        .args(["check", "--config", "/nonexistent/x.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn check_loads_unservable_entries_disabled_and_strict_refuses_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, "model_list:\n  - model_name: a\n    litellm_params:\n      model: gpt-4o\n      api_key: k\n  - model_name: b\n    litellm_params:\n      model: bedrock/anthropic.claude-v2\n      aws_region_name: us-east-1\nrouter_settings:\n  num_retires: 2\n");
    let run = |strict: bool| {
        let mut command = Command::new(BIN);
        command.args(["check", "--config"]).arg(&path);
        if strict {
            command.arg("--strict");
        }
        command.output().unwrap()
    };
    let out = run(false);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "model_list[0]: provider `openai` inferred",
        "model_list[1]: provider `bedrock` is a LiteLLM provider tollgate does not support yet; the entry is loaded disabled",
        "did you mean `router_settings.num_retries`?",
        "b model_list[1] disabled: provider `bedrock`",
    ] {
        assert!(stdout.contains(expected), "{expected} in {stdout}");
    }
    let out = run(true);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 entry cannot be served (--strict)"));
}

#[test]
fn an_invalid_config_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_config(&dir, "model_list: [");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&bad)
        .args(["--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("config is invalid"));
    let out = Command::new(BIN).env_remove("TOLLGATE_CONFIG").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
}

#[test]
fn without_keys_it_refuses_to_listen_beyond_loopback_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/x\n      mock_response: hi\n";
    let path = write_config(&dir, yaml);
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .args(["--host", "0.0.0.0", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("allow_unauthenticated") && text.contains("master_key"),
        "{text}"
    );

    let path = write_config(&dir, &format!("{yaml}tollgate:\n  allow_unauthenticated: true\n"));
    let running = Running::start(&path, &["--host", "0.0.0.0"], &[]);
    running.signal("TERM");
    let (status, _) = running.wait(Duration::from_secs(10));
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_running_stream_finish_then_exits_0() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, &config_for(&mock, &[("m", "u")], ""));
    let running = Running::start(&path, &["--drain-seconds", "10"], &[]);
    let events: Vec<String> = (0..6).map(|i| chunk("u", &format!("t{i}"))).collect();
    mock.script([Reply::Sse(events, Duration::from_millis(150))]);
    let url = running.url("/v1/chat/completions");
    let stream = tokio::spawn(async move { stream_frames(&url, &[], json!({"model": "m", "stream": true})).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.signal("TERM");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New connections are refused while the stream drains.
    let refused = tokio::net::TcpStream::connect(&running.addr).await;
    assert!(refused.is_err(), "the listener is closed during the drain");
    let (status, frames) = stream.await.unwrap();
    assert_eq!(status, 200);
    let text = frames_text(&frames);
    assert!(
        text.ends_with("data: [DONE]\n\n") && text.contains("t5"),
        "the whole stream arrived: {text}"
    );
    let (status, output) = tokio::task::spawn_blocking(move || running.wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(status.success(), "{output}");
    assert!(output.contains("drained=true"), "{output}");
}

/// Also runs the single-threaded scheduler (`--worker-threads 1`, what a
/// one-CPU pod gets) through a request, a drain and the last log lines.
#[tokio::test(flavor = "multi_thread")]
async fn json_logs_carry_one_access_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        "model_list:\n  - model_name: demo\n    litellm_params:\n      model: openai/demo\n      mock_response: hi\n",
    );
    let running = Running::start(&path, &["--log-format", "json", "--worker-threads", "1"], &[]);
    post_json(&running.url("/v1/chat/completions"), &[], json!({"model": "demo"})).await;
    post_json(&running.url("/v1/chat/completions"), &[], json!({"model": "absent"})).await;
    running.signal("TERM");
    let (_, output) = tokio::task::spawn_blocking(move || running.wait(Duration::from_secs(10)))
        .await
        .unwrap();
    let access: Vec<serde_json::Value> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "tollgate::access")
        .collect();
    assert_eq!(access.len(), 2, "{output}");
    assert_eq!(access[0]["status"], 200);
    assert_eq!(access[0]["model"], "demo");
    assert_eq!(access[0]["upstream"], "openai/demo");
    assert_eq!(access[1]["status"], 404);
    assert_eq!(access[1]["error"], "model_not_found");
    assert!(access[0]["duration_us"].is_u64());
    // Written out at exit: the batch the writer still held.
    let last = output.lines().last().unwrap_or_default();
    assert!(last.contains("tollgate stopped"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_appears_in_any_output_even_at_trace_level() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("provider-key"), "sk-canary-file-55\n").unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/u\n      api_base: {}\n      api_key: os.environ/TG_CANARY_PROVIDER\n      headers:\n        X-Secret-Header: os.environ/TG_CANARY_HEADER\n  - model_name: f\n    litellm_params:\n      model: openai/u\n      api_base: {}\n      api_key: file:provider-key\ngeneral_settings:\n  master_key: os.environ/TG_CANARY_MASTER\ntollgate:\n  clients:\n    - name: app\n      key: os.environ/TG_CANARY_CLIENT\n",
        mock.base(),
        mock.base()
    );
    let path = write_config(&dir, &yaml);
    let env = [
        ("TG_CANARY_PROVIDER", "sk-canary-provider-11"),
        ("TG_CANARY_HEADER", "canary-header-22"),
        ("TG_CANARY_MASTER", "sk-canary-master-33"),
        ("TG_CANARY_CLIENT", "sk-canary-client-44"),
        ("RUST_LOG", "trace"),
    ];
    let running = Running::start(&path, &[], &env);
    let url = running.url("/v1/chat/completions");
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    for key in [
        "Bearer sk-canary-master-33",
        "Bearer sk-canary-client-44",
        "Bearer sk-canary-wrong-66",
    ] {
        post_json(&url, &[("authorization", key)], body.clone()).await;
    }
    mock.script([Reply::Json(500, json!({"error": {"message": "boom"}}))]);
    post_json(&url, &[("authorization", "Bearer sk-canary-client-44")], body.clone()).await;
    post_json(
        &url,
        &[("authorization", "Bearer sk-canary-client-44")],
        json!({"model": "f"}),
    )
    .await;
    post_json(
        &url,
        &[("x-api-key", "sk-canary-client-44")],
        json!({"model": "m", "stream": true}),
    )
    .await;
    assert_eq!(
        mock.calls()[0].header("x-secret-header"),
        Some("canary-header-22"),
        "the header did go upstream"
    );
    assert_eq!(
        mock.calls().last().unwrap().header("authorization"),
        Some("Bearer sk-canary-provider-11")
    );
    running.signal("TERM");
    let (_, output) = tokio::task::spawn_blocking(move || running.wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(output.contains("request finished"), "logs were written: {output}");
    for canary in [
        "canary-provider-11",
        "canary-header-22",
        "canary-master-33",
        "canary-client-44",
        "canary-file-55",
        "canary-wrong-66",
    ] {
        assert!(!output.contains(canary), "{canary} leaked into the output");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_listener_serves_health_but_no_model_routes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        "model_list:\n  - model_name: demo\n    litellm_params:\n      model: openai/demo\n      mock_response: hi\n",
    );
    let running = Running::start(&path, &["--admin-port", "0", "--admin-host", "127.0.0.1"], &[]);
    let output = running.output();
    let line = output
        .lines()
        .find(|l| l.contains("admin listener"))
        .expect("the admin address is logged");
    let admin = line
        .split("addr=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let health = send("GET", &format!("http://{admin}/health/readiness"), &[], "").await;
    assert_eq!(health.status, 200);
    assert_eq!(
        send("GET", &format!("http://{admin}/health/liveliness"), &[], "")
            .await
            .status,
        200
    );
    let chat = post_json(
        &format!("http://{admin}/v1/chat/completions"),
        &[],
        json!({"model": "demo"}),
    )
    .await;
    assert_eq!((chat.status.as_u16(), chat.error_code().as_str()), (404, "unknown_url"));
    assert_eq!(
        send("GET", &format!("http://{admin}/v1/models"), &[], "").await.status,
        404
    );
    // The API itself is unchanged.
    assert_eq!(
        post_json(&running.url("/v1/chat/completions"), &[], json!({"model": "demo"}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn disabled_entries_show_in_readiness_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        "model_list:\n  - model_name: demo\n    litellm_params:\n      model: openai/demo\n      mock_response: hi\n  - model_name: b\n    litellm_params:\n      model: bedrock/anthropic.claude-v2\n  - model_name: c\n    litellm_params:\n      model: bedrock/amazon.titan\n",
    );
    let running = Running::start(&path, &[], &[]);
    let ready = send("GET", &running.url("/health/readiness"), &[], "").await;
    assert_eq!(
        ready.json()["disabled"],
        json!(["model_list[1] (bedrock)", "model_list[2] (bedrock)"])
    );
    let metrics = send("GET", &running.url("/metrics"), &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("tollgate_deployments_disabled") && l.contains("bedrock"))
        .unwrap_or_else(|| panic!("no disabled gauge in {text}"));
    assert!(line.ends_with(" 2"), "{line}");
}
