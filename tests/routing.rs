//! Routing under provider failures, each case asserting what the client got
//! and exactly which upstream calls were made.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// One `model_list` entry on a mock (`path` distinguishes deployments on one mock).
fn entry(name: &str, upstream: &str, base: &str, extra: &str) -> String {
    format!(
        "  - model_name: {name}\n    litellm_params:\n      model: openai/{upstream}\n      api_base: {base}\n      api_key: sk-{upstream}\n{extra}"
    )
}

fn yaml(entries: &[String], routing: &str) -> String {
    format!("model_list:\n{}{routing}", entries.concat())
}

fn error_body(code: &str, message: &str) -> Value {
    json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}})
}

async fn chat(gw: &TestGateway, model: &str) -> Answer {
    post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": model, "messages": []}),
    )
    .await
}

#[tokio::test]
async fn rate_limited_then_fallback_uses_the_fallbacks_own_entry() {
    let (primary, backup) = (Mock::start().await, Mock::start().await);
    primary.always(Reply::Json(429, error_body("rate_limit_exceeded", "slow down")));
    let config = yaml(
        &[
            entry("primary", "p-model", &primary.base(), ""),
            entry(
                "backup",
                "b-model",
                &backup.base(),
                "      headers:\n        X-Backup: yes\n",
            ),
        ],
        "router_settings:\n  fallbacks: [{primary: [backup]}]\n",
    );
    let gw = TestGateway::start(&config).await;
    let answer = chat(&gw, "primary").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["model"], "b-model");
    assert_eq!(answer.header("x-tollgate-model-group"), Some("backup"));
    assert_eq!(answer.header("x-tollgate-fallbacks"), Some("1"));
    assert_eq!(answer.header("x-tollgate-retries"), Some("0"));
    assert_eq!(primary.calls().len(), 1);
    let call = &backup.calls()[0];
    assert_eq!(call.json()["model"], "b-model");
    assert_eq!(
        call.header("authorization"),
        Some("Bearer sk-b-model"),
        "the fallback's own key"
    );
    assert_eq!(call.header("x-backup"), Some("yes"), "the fallback's own headers");
}

#[tokio::test]
async fn a_500_on_one_deployment_of_a_group_never_reaches_the_client() {
    let (bad, good) = (Mock::start().await, Mock::start().await);
    bad.always(Reply::Json(500, error_body("server_error", "boom")));
    let config = yaml(
        &[entry("g", "bad", &bad.base(), ""), entry("g", "good", &good.base(), "")],
        "router_settings:\n  num_retries: 1\n  allowed_fails: 1000\n",
    );
    let gw = TestGateway::start(&config).await;
    for _ in 0..20 {
        let answer = chat(&gw, "g").await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(answer.json()["model"], "good");
    }
    let retried = 20 - good.calls().len() + bad.calls().len();
    assert_eq!(
        good.calls().len(),
        20,
        "every request was served by the healthy deployment"
    );
    assert!(
        !bad.calls().is_empty() && retried >= bad.calls().len(),
        "the bad one was tried and retried away from"
    );
}

#[tokio::test]
async fn context_length_errors_fall_back_without_retrying_the_same_model() {
    let (small, big) = (Mock::start().await, Mock::start().await);
    small.always(Reply::Json(
        400,
        error_body(
            "context_length_exceeded",
            "This model's maximum context length is 8192 tokens.",
        ),
    ));
    let config = yaml(
        &[
            entry("small", "s", &small.base(), ""),
            entry("big", "b", &big.base(), ""),
        ],
        "router_settings:\n  num_retries: 3\n  context_window_fallbacks: [{small: [big]}]\n",
    );
    let gw = TestGateway::start(&config).await;
    let answer = chat(&gw, "small").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["model"], "b");
    assert_eq!(small.calls().len(), 1, "no pointless retry");
    assert_eq!(big.calls().len(), 1);
    assert_eq!(answer.header("x-tollgate-retries"), Some("0"));
}

#[tokio::test]
async fn a_plain_bad_request_is_not_retried_nor_sent_elsewhere() {
    let (a, b) = (Mock::start().await, Mock::start().await);
    let error = error_body("invalid_value", "temperature must be <= 2");
    a.always(Reply::Json(400, error.clone()));
    let config = yaml(
        &[entry("a", "a", &a.base(), ""), entry("b", "b", &b.base(), "")],
        "router_settings:\n  num_retries: 2\n  fallbacks: [{a: [b]}]\n",
    );
    let gw = TestGateway::start(&config).await;
    let answer = chat(&gw, "a").await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json(), error, "the provider's own error passes through");
    assert_eq!(answer.header("x-tollgate-error"), None);
    assert_eq!((a.calls().len(), b.calls().len()), (1, 0));
}

#[tokio::test]
async fn a_hanging_upstream_meets_timeout_and_stream_timeout() {
    let mock = Mock::start().await;
    let config = yaml(
        &[entry(
            "slow",
            "s",
            &mock.base(),
            "      timeout: 0.4\n      stream_timeout: 0.2\n",
        )],
        "",
    );
    let gw = TestGateway::start(&config).await;
    mock.script([Reply::Hang]);
    let started = Instant::now();
    let answer = chat(&gw, "slow").await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_code().as_str()),
        (504, "upstream_timeout")
    );
    assert!(started.elapsed() >= Duration::from_millis(400) && started.elapsed() < Duration::from_secs(2));

    // A stream whose head comes at once but whose first chunk does not.
    mock.script([Reply::SseAfter(Duration::from_secs(5), vec![chunk("s", "late")])]);
    let started = Instant::now();
    let answer = post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "slow", "stream": true}),
    )
    .await;
    assert_eq!(
        (answer.status.as_u16(), answer.error_code().as_str()),
        (504, "upstream_timeout")
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "stream_timeout, not timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stream_timeout_falls_back_before_any_byte_reaches_the_client() {
    let (stuck, fine) = (Mock::start().await, Mock::start().await);
    stuck.always(Reply::SseAfter(Duration::from_secs(5), vec![chunk("x", "late")]));
    let config = yaml(
        &[
            entry("a", "a", &stuck.base(), "      stream_timeout: 0.2\n"),
            entry("b", "b", &fine.base(), ""),
        ],
        "router_settings:\n  fallbacks: [{a: [b]}]\n",
    );
    let gw = TestGateway::start(&config).await;
    let (status, frames) = stream_frames(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "a", "stream": true}),
    )
    .await;
    let text = frames_text(&frames);
    assert_eq!(status, 200);
    assert_eq!(
        text.matches("data: ").count(),
        4,
        "the fallback's whole stream, nothing of the stuck one: {text}"
    );
    assert!(text.contains("Hello") && text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn a_refused_connection_moves_to_the_next_deployment() {
    let good = Mock::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = yaml(
        &[
            entry("g", "down", &format!("http://{closed}/v1"), "      order: 1\n"),
            entry("g", "up", &good.base(), "      order: 2\n"),
        ],
        "router_settings:\n  num_retries: 1\n",
    );
    let gw = TestGateway::start(&config).await;
    let answer = chat(&gw, "g").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["model"], "up");
    assert_eq!(answer.header("x-tollgate-retries"), Some("1"));
    assert_eq!(good.calls().len(), 1);
}

#[tokio::test]
async fn a_stream_broken_midway_ends_broken_without_a_fake_done_and_is_not_retried() {
    let (a, b) = (Mock::start().await, Mock::start().await);
    a.script([Reply::SseBroken(
        vec![chunk("a", "one"), chunk("a", "two")],
        Duration::from_millis(20),
    )]);
    let config = yaml(
        &[entry("a", "a", &a.base(), ""), entry("b", "b", &b.base(), "")],
        "router_settings:\n  num_retries: 2\n  fallbacks: [{a: [b]}]\n",
    );
    let gw = TestGateway::start(&config).await;
    let (status, frames) = stream_frames(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "a", "stream": true}),
    )
    .await;
    let text = frames_text(&frames);
    assert_eq!(status, 200);
    assert!(text.contains("one") && text.contains("two"), "{text}");
    assert!(
        !text.contains("[DONE]"),
        "a broken stream must not look finished: {text}"
    );
    assert_eq!(
        (a.calls().len(), b.calls().len()),
        (1, 0),
        "bytes were sent: no retry, no fallback"
    );
}

#[tokio::test]
async fn a_rate_limited_deployment_is_skipped_while_it_cools_down() {
    let (limited, other) = (Mock::start().await, Mock::start().await);
    limited.always(Reply::Json(429, error_body("rate_limit_exceeded", "slow down")));
    let config = yaml(
        &[
            entry("g", "limited", &limited.base(), "      order: 1\n"),
            entry("g", "other", &other.base(), "      order: 2\n"),
        ],
        "router_settings:\n  num_retries: 1\n  cooldown_time: 60\n",
    );
    let gw = TestGateway::start(&config).await;
    for _ in 0..10 {
        assert_eq!(chat(&gw, "g").await.status, 200);
    }
    assert_eq!(
        limited.calls().len(),
        1,
        "after its 429 the preferred deployment was skipped"
    );
    assert_eq!(other.calls().len(), 10);
}

#[tokio::test]
async fn retry_after_is_honoured_on_the_same_deployment() {
    let mock = Mock::start().await;
    mock.script([Reply::Json(503, error_body("overloaded", "busy"))]);
    let config = yaml(
        &[entry("g", "only", &mock.base(), "")],
        "router_settings:\n  num_retries: 1\n  allowed_fails: 5\n",
    );
    let gw = TestGateway::start(&config).await;
    let started = Instant::now();
    let answer = chat(&gw, "g").await;
    assert_eq!(answer.status, 200);
    assert_eq!(mock.calls().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(120),
        "backed off before retrying the only deployment"
    );
}

#[tokio::test]
async fn when_every_deployment_is_down_the_client_gets_429_with_retry_after_at_once() {
    let (a, b) = (Mock::start().await, Mock::start().await);
    for m in [&a, &b] {
        m.always(Reply::Json(429, error_body("rate_limit_exceeded", "slow down")));
    }
    let config = yaml(
        &[entry("g", "a", &a.base(), ""), entry("g", "b", &b.base(), "")],
        "router_settings:\n  num_retries: 1\n  cooldown_time: 30\n",
    );
    let gw = TestGateway::start(&config).await;
    let first = chat(&gw, "g").await;
    assert_eq!(first.status, 429, "the provider's last 429 passes through");
    assert_eq!(first.header("x-tollgate-retries"), Some("1"));
    assert_eq!(a.calls().len() + b.calls().len(), 2);
    let started = Instant::now();
    let second = chat(&gw, "g").await;
    assert!(started.elapsed() < Duration::from_millis(200), "no hang");
    assert_eq!(
        (second.status.as_u16(), second.error_code().as_str()),
        (429, "no_deployment_available")
    );
    let retry_after: u64 = second.header("retry-after").unwrap().parse().unwrap();
    assert!((29..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(
        a.calls().len() + b.calls().len(),
        2,
        "no upstream call while all cool down"
    );
}

#[tokio::test]
async fn wildcard_routes_and_aliases_reach_the_right_upstream_model() {
    let mock = Mock::start().await;
    let config = format!(
        "model_list:\n  - model_name: \"openai/*\"\n    litellm_params:\n      model: \"openai/*\"\n      api_base: {base}\n  - model_name: \"*\"\n    litellm_params:\n      model: \"openai/local-*\"\n      api_base: {base}\nrouter_settings:\n  model_group_alias:\n    gpt: openai/gpt-4o\n",
        base = mock.base()
    );
    let gw = TestGateway::start(&config).await;
    assert_eq!(chat(&gw, "openai/gpt-4.1-mini").await.json()["model"], "gpt-4.1-mini");
    assert_eq!(chat(&gw, "llama").await.json()["model"], "local-llama");
    let answer = chat(&gw, "gpt").await;
    assert_eq!(answer.json()["model"], "gpt-4o");
    assert_eq!(answer.header("x-tollgate-model-group"), Some("openai/*"));
}
