//! Budgets on the request path of the real gateway: a spent client budget refuses in the client's own error shape, a spent `fallback` budget moves requests to the cheaper group, and the remaining amount is on each answer.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::{post_json, Answer, Mock, TestGateway};

const MASTER_KEY: &str = "sk-master-budget-1";
const AUTOMATION_KEY: &str = "sk-automation-budget-2";

/// Every echo answer reports 3 input and 4 output tokens; at 1 per token a
/// request costs 7 (USD, the default reporting currency).
const COST: f64 = 7.0;

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// A priced entry on `mock` (1 per token), with `extra` litellm_params lines.
fn entry(name: &str, mock: &Mock, extra: &str) -> String {
    format!(
        "  - model_name: {name}\n    litellm_params:\n      model: openai/{name}-upstream\n      api_base: {}\n      api_key: sk-upstream\n      input_cost_per_token: 1\n      output_cost_per_token: 1\n{extra}",
        mock.base()
    )
}

async fn gateway(yaml: &str) -> TestGateway {
    TestGateway::start_with_env(yaml, &[("TG_MASTER", MASTER_KEY), ("TG_AUTOMATION", AUTOMATION_KEY)]).await
}

const KEYS: &str = "general_settings:\n  master_key: os.environ/TG_MASTER\n";

/// Sends a chat request, then waits a moment: a request's cost is counted
/// when its record is finished, just after the client has the last byte.
async fn ask(gw: &TestGateway, key: &str, model: &str) -> Answer {
    let answer = post_json(
        &gw.url("/v1/chat/completions"),
        &[("authorization", &bearer(key))],
        chat(model),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    answer
}

fn remaining(answer: &Answer) -> Option<f64> {
    answer
        .header("x-tollgate-budget-remaining")
        .map(|v| v.parse().unwrap_or_else(|_| panic!("a plain number: {v}")))
}

#[tokio::test]
async fn a_spent_client_budget_rejects_in_the_clients_error_shape() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n{}{KEYS}tollgate:\n  clients:\n    - name: automation\n      key: os.environ/TG_AUTOMATION\n      max_budget: 20\n      budget_duration: 1d\n",
        entry("gpt", &mock, "")
    );
    let gw = gateway(&yaml).await;

    // Admitted while the spend before the request is under 20: 0, 7, 14.
    let mut left = Vec::new();
    for _ in 0..3 {
        let answer = ask(&gw, AUTOMATION_KEY, "gpt").await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        left.push(remaining(&answer).expect("a budget covers the request"));
    }
    assert_eq!(left, [20.0, 20.0 - COST, 20.0 - 2.0 * COST]);

    let refused = ask(&gw, AUTOMATION_KEY, "gpt").await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.error_code(), "budget_exceeded");
    assert_eq!(refused.header("x-tollgate-error"), Some("budget_exceeded"));
    let message = refused.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("client:automation"), "names the budget: {message}");
    assert!(message.contains("resets at"), "says when it resets: {message}");
    assert!(
        message.contains("20 USD"),
        "the limit in the reporting currency: {message}"
    );
    let retry: i64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "Retry-After to the day's end: {retry}");
    assert_eq!(mock.calls().len(), 3, "a refused request reaches no provider");

    // Anthropic's shape on /v1/messages, same budget.
    let messages = json!({"model": "gpt", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    let refused = post_json(
        &gw.url("/v1/messages"),
        &[("x-api-key", AUTOMATION_KEY), ("anthropic-version", "2023-06-01")],
        messages,
    )
    .await;
    assert_eq!(refused.status, 429);
    let body = refused.json();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("client:automation"));
    assert_eq!(refused.header("x-tollgate-error"), Some("budget_exceeded"));
    assert!(refused.header("retry-after").is_some());

    // Another client's requests are not covered: served, and no figures of
    // the automation client's budget on them.
    let other = ask(&gw, MASTER_KEY, "gpt").await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("x-tollgate-budget-remaining"), None);
}

#[tokio::test]
async fn a_spent_fallback_budget_serves_from_the_cheaper_group() {
    let kimi = Mock::start().await;
    let local = Mock::start().await;
    // The seed's case in small: the Kimi entry's budget falls back to the local model.
    let yaml = format!(
        "model_list:\n{}{}{KEYS}tollgate:\n  budgets:\n    on_limit:\n      deployment:0: {{action: fallback, fallback: local-llama}}\n",
        entry("kimi-code", &kimi, "      max_budget: 10\n      budget_duration: 1mo\n"),
        entry("local-llama", &local, ""),
    );
    let gw = gateway(&yaml).await;

    for expect_left in [10.0, 10.0 - COST] {
        let answer = ask(&gw, MASTER_KEY, "kimi-code").await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-tollgate-model-group"), Some("kimi-code"));
        assert_eq!(answer.header("x-tollgate-fallbacks"), Some("0"));
        assert_eq!(remaining(&answer), Some(expect_left));
    }
    let moved = ask(&gw, MASTER_KEY, "kimi-code").await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.header("x-tollgate-model-group"), Some("local-llama"));
    assert_eq!(moved.header("x-tollgate-fallbacks"), Some("1"));
    assert_eq!(
        moved.header("x-tollgate-budget-remaining"),
        None,
        "no budget covers the local model"
    );
    assert_eq!(moved.json()["model"], "local-llama-upstream");
    assert_eq!((kimi.calls().len(), local.calls().len()), (2, 1));
}

#[tokio::test]
async fn the_tightest_covering_budget_is_the_remaining_header() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n{}{KEYS}litellm_settings:\n  max_budget: 100\n  budget_duration: 30d\nrouter_settings:\n  provider_budget_config:\n    openai: {{budget_limit: 50, time_period: 1d}}\n",
        entry("gpt", &mock, "")
    );
    let gw = gateway(&yaml).await;
    let first = ask(&gw, MASTER_KEY, "gpt").await;
    assert_eq!(first.header("x-tollgate-budget-remaining"), Some("50"));
    let second = ask(&gw, MASTER_KEY, "gpt").await;
    assert_eq!(second.header("x-tollgate-budget-remaining"), Some("43"));

    let ready = common::send("GET", &gw.url("/health/readiness"), &[], "").await;
    assert_eq!(ready.status, 200);
    let state = &ready.json()["budgets"];
    assert_eq!(state["source"]["state"], "local", "{state}");
    assert!(state["source"]["note"]
        .as_str()
        .unwrap()
        .contains("a restart resets it"));
    let gateway_budget = state["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["budget"] == "gateway")
        .unwrap();
    assert_eq!(gateway_budget["spent"], 2.0 * COST);
}

#[tokio::test]
async fn a_reload_keeps_the_spend_and_applies_a_new_limit_at_once() {
    let mock = Mock::start().await;
    let yaml = |limit: u32| {
        format!(
            "model_list:\n{}{KEYS}litellm_settings:\n  max_budget: {limit}\n  budget_duration: 1d\n",
            entry("gpt", &mock, "")
        )
    };
    let gw = gateway(&yaml(10)).await;
    assert_eq!(ask(&gw, MASTER_KEY, "gpt").await.status, 200);
    assert_eq!(ask(&gw, MASTER_KEY, "gpt").await.status, 200);
    assert_eq!(ask(&gw, MASTER_KEY, "gpt").await.status, 429, "14 spent of 10");

    let env = |name: &str| (name == "TG_MASTER").then(|| MASTER_KEY.to_string());
    let raised = tollgate::config::load_str(&yaml(30), std::path::Path::new("."), &env).unwrap();
    gw.gateway.swap(raised.config);
    let answer = ask(&gw, MASTER_KEY, "gpt").await;
    assert_eq!(answer.status, 200, "the raised limit applies at once");
    assert_eq!(
        answer.header("x-tollgate-budget-remaining"),
        Some("16"),
        "the spend was kept"
    );
}

#[tokio::test]
async fn a_spent_provider_budget_leaves_the_groups_other_entries_serving() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n{}  - model_name: chat\n    litellm_params:\n      model: hosted_vllm/llama\n      api_base: {}\n      order: 2\n{KEYS}router_settings:\n  provider_budget_config:\n    openai: {{budget_limit: 10, time_period: 1d}}\n",
        entry("chat", &mock, "      order: 1\n"),
        mock.base()
    );
    let gw = gateway(&yaml).await;
    for _ in 0..2 {
        let answer = ask(&gw, MASTER_KEY, "chat").await;
        assert_eq!(
            answer.header("x-tollgate-deployment"),
            Some("0"),
            "openai first, by order"
        );
    }
    let answer = ask(&gw, MASTER_KEY, "chat").await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(
        answer.header("x-tollgate-deployment"),
        Some("1"),
        "the entry the budget does not cover"
    );
    assert_eq!(answer.header("x-tollgate-budget-remaining"), None);
}
