//! `litellm_params` request defaults in every upstream format: the exact
//! body a Responses, Anthropic Messages or chat server receives, passed
//! through or translated, with only the fields the client left out added.

mod common;

use common::*;
use serde_json::json;

/// The defaults every test's entry carries, under `litellm_params`.
const DEFAULTS: &str = "      max_tokens: 256\n      temperature: 0.2\n      stop: END\n      seed: 7\n      user: u1\n      reasoning_effort: low\n      extra_body: {top_k: 5}\n";

fn entry(name: &str, model: &str, mock: &Mock, more: &str) -> String {
    format!(
        "  - model_name: {name}\n    litellm_params:\n      model: {model}\n      api_base: {}\n{more}{DEFAULTS}",
        mock.base()
    )
}

fn sent(mock: &Mock) -> String {
    let calls = mock.calls();
    let call = calls.last().expect("the upstream was called");
    String::from_utf8(call.body.to_vec()).unwrap()
}

/// An Anthropic Messages answer, for entries whose server speaks it.
fn anthropic_answer() -> Reply {
    Reply::Json(
        200,
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
               "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "stop_sequence": null,
               "usage": {"input_tokens": 1, "output_tokens": 1}}),
    )
}

#[tokio::test]
async fn a_responses_server_gets_them_in_responses_terms() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n{}",
        entry("r", "openai/up", &mock, "      use_chat_completions_api: false\n")
    );
    let gw = TestGateway::start(&yaml).await;
    let body = r#"{"model":"r","input":"hi","temperature":1}"#;
    let answer = send(
        "POST",
        &gw.url("/v1/responses"),
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(mock.calls()[0].path, "/v1/responses");
    // No `stop` or `seed` (Responses has neither); the client's temperature wins.
    assert_eq!(
        sent(&mock),
        r#"{"top_k":5,"max_output_tokens":256,"reasoning":{"effort":"low"},"user":"u1","model":"up","input":"hi","temperature":1}"#
    );
}

#[tokio::test]
async fn an_anthropic_server_gets_them_in_anthropic_terms() {
    let mock = Mock::start().await;
    mock.always(anthropic_answer());
    let yaml = format!("model_list:\n{}", entry("c", "anthropic/claude-x", &mock, ""));
    let gw = TestGateway::start(&yaml).await;
    let body = r#"{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let answer = send(
        "POST",
        &gw.url("/v1/messages"),
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(
        sent(&mock),
        r#"{"top_k":5,"thinking":{"budget_tokens":1024,"type":"enabled"},"stop_sequences":["END"],"temperature":0.2,"metadata":{"user_id":"u1"},"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#
    );
}

#[tokio::test]
async fn a_chat_client_translated_to_anthropic_gets_the_default_limit_not_the_model_s() {
    let mock = Mock::start().await;
    mock.always(anthropic_answer());
    let yaml = format!(
        "model_list:\n{}",
        entry("c", "anthropic/claude-x", &mock, "")
            .replace("      reasoning_effort: low\n", "")
            .replace("      temperature: 0.2\n", "")
    );
    let gw = TestGateway::start(&yaml).await;
    let chat = json!({"model": "c", "messages": [{"role": "user", "content": "hi"}]});
    let answer = post_json(&gw.url("/v1/chat/completions"), &[], chat).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let upstream = mock.calls()[0].json();
    assert_eq!(mock.calls()[0].path, "/v1/messages");
    assert_eq!(upstream["max_tokens"], 256, "{upstream}");
    assert_eq!(upstream["stop_sequences"], json!(["END"]), "{upstream}");
    assert_eq!(upstream["metadata"], json!({"user_id": "u1"}), "{upstream}");
    assert_eq!(upstream["top_k"], 5, "{upstream}");
    assert!(upstream.get("seed").is_none(), "Anthropic has no seed: {upstream}");
    // The client's own values win.
    let chat = json!({"model": "c", "max_tokens": 9, "stop": ["X"], "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post_json(&gw.url("/v1/chat/completions"), &[], chat).await.status, 200);
    let upstream = mock.calls()[1].json();
    assert_eq!(
        (&upstream["max_tokens"], &upstream["stop_sequences"]),
        (&json!(9), &json!(["X"]))
    );
}

#[tokio::test]
async fn a_responses_client_translated_to_chat_gets_what_responses_cannot_say_too() {
    let mock = Mock::start().await;
    let yaml = format!("model_list:\n{}", entry("m", "groq/llama", &mock, ""));
    let gw = TestGateway::start(&yaml).await;
    let body = json!({"model": "m", "input": "hi", "temperature": 1});
    let answer = post_json(&gw.url("/v1/responses"), &[], body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(mock.calls()[0].path, "/v1/chat/completions");
    let upstream = mock.calls()[0].json();
    // Through the translation (as Responses' own fields) ...
    assert_eq!(upstream["max_tokens"], 256, "{upstream}");
    assert_eq!(upstream["reasoning_effort"], "low", "{upstream}");
    assert_eq!(upstream["user"], "u1", "{upstream}");
    // ... and after it, what Responses has no field for.
    assert_eq!(upstream["seed"], 7, "{upstream}");
    assert_eq!(upstream["stop"], "END", "{upstream}");
    assert_eq!(upstream["top_k"], 5, "{upstream}");
    assert_eq!(upstream["temperature"], 1.0, "the client's own value: {upstream}");
}

#[tokio::test]
async fn text_completions_get_only_their_own_fields() {
    let mock = Mock::start().await;
    mock.always(Reply::Json(
        200,
        json!({"id": "c", "object": "text_completion", "choices": []}),
    ));
    let yaml = format!(
        "model_list:\n{}",
        entry("t", "openai/up", &mock, "      max_completion_tokens: 64\n")
    );
    let gw = TestGateway::start(&yaml).await;
    let answer = post_json(&gw.url("/v1/completions"), &[], json!({"model": "t", "prompt": "hi"})).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    // max_completion_tokens (first in key order) is completions' max_tokens;
    // reasoning_effort has no place there.
    assert_eq!(
        sent(&mock),
        r#"{"top_k":5,"max_tokens":64,"seed":7,"stop":"END","temperature":0.2,"user":"u1","model":"up","prompt":"hi"}"#
    );
}

#[tokio::test]
async fn fields_a_provider_knows_by_another_name_are_renamed() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n  - model_name: mistral\n    litellm_params: {{model: mistral/mistral-large, api_base: {base}}}\n  - model_name: poe\n    litellm_params: {{model: poe/bot, api_base: {base}, max_completion_tokens: 50}}\n  - model_name: groq\n    litellm_params: {{model: groq/llama, api_base: {base}}}\n",
        base = mock.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let body = |model: &str| {
        format!(
            r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}],"max_completion_tokens": 64,"seed":7}}"#
        )
    };
    let post = |body: String| {
        let url = gw.url("/v1/chat/completions");
        async move { send("POST", &url, &[("content-type", "application/json")], body).await }
    };
    assert_eq!(post(body("mistral")).await.status, 200);
    assert_eq!(
        sent(&mock),
        r#"{"model":"mistral-large","messages":[{"role":"user","content":"hi"}],"max_tokens":64,"random_seed":7}"#
    );
    // A default in the old name is renamed too; the rest stays as sent.
    let answer = post(r#"{"model":"poe","messages":[],"seed":7}"#.to_string()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(sent(&mock), r#"{"max_tokens":50,"model":"bot","messages":[],"seed":7}"#);
    // A provider without mappings gets the body as it came.
    assert_eq!(post(body("groq")).await.status, 200);
    assert_eq!(
        sent(&mock),
        r#"{"model":"llama","messages":[{"role":"user","content":"hi"}],"max_completion_tokens": 64,"seed":7}"#
    );
}
