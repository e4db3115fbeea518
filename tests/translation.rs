//! The request path around protocol translation: Anthropic's routes and
//! passthrough, errors in the client's own shape, token counting, which
//! deployment format serves which client, and translated answers end to end.

mod common;

use common::*;
use serde_json::{json, Value};

/// A config with one `anthropic/` entry on the mock (its base without `/v1`,
/// as LiteLLM writes Anthropic's) and one chat-only `openai/` entry.
fn mixed_config(mock: &Mock) -> String {
    format!(
        r#"model_list:
  - model_name: claude
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_base: http://{addr}
      api_key: sk-ant-upstream
  - model_name: kimi
    litellm_params:
      model: openai/kimi-for-coding
      api_base: http://{addr}/v1
      api_key: sk-kimi-upstream
"#,
        addr = mock.addr
    )
}

fn anthropic_events(text: &str) -> Vec<String> {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 20, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 1}}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ),
        event("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 9}}),
        ),
        event("message_stop", json!({"type": "message_stop"})),
    ]
}

fn messages_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 1024, "stream": stream,
           "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn head_root_answers_for_claude_codes_probe() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    let answer = send("HEAD", &gw.url("/"), &[], "").await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn messages_pass_through_to_anthropic_with_its_headers_and_the_deployments_key() {
    let mock = Mock::start().await;
    mock.script([Reply::RawSse(anthropic_events("Hello"))]);
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    let headers = [
        ("x-api-key", "client-key-never-forwarded"),
        ("authorization", "Bearer client-token-never-forwarded"),
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "interleaved-thinking-2025-05-14"),
    ];
    let body = messages_body("claude", true);
    let (status, frames) = stream_frames(&gw.url("/v1/messages?beta=true"), &headers, body).await;
    assert_eq!(status, 200);
    let text = frames_text(&frames);
    // Passthrough: the provider's events arrive as sent.
    assert_eq!(text, anthropic_events("Hello").concat());
    let call = &mock.calls()[0];
    assert_eq!(call.path, "/v1/messages");
    assert_eq!(call.header("x-api-key"), Some("sk-ant-upstream"));
    assert_eq!(call.header("authorization"), None);
    assert_eq!(call.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(call.header("anthropic-beta"), Some("interleaved-thinking-2025-05-14"));
    assert_eq!(call.json()["model"], "claude-sonnet-4-5");
    assert_eq!(call.json()["messages"], messages_body("claude", true)["messages"]);
}

#[tokio::test]
async fn anthropic_upstreams_get_a_default_version_and_no_beta_from_translated_clients() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    // Without a client version the gateway names the one it speaks.
    let _ = post_json(&gw.url("/v1/messages"), &[], messages_body("claude", false)).await;
    assert_eq!(mock.calls()[0].header("anthropic-version"), Some("2023-06-01"));
}

#[tokio::test]
async fn errors_on_the_messages_routes_are_in_anthropics_shape() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    let unknown = post_json(&gw.url("/v1/messages"), &[], messages_body("nope", false)).await;
    assert_eq!(unknown.status, 404);
    let v = unknown.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "not_found_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("nope"));
    let broken = send("POST", &gw.url("/v1/messages?beta=true"), &[], "{not json").await;
    assert_eq!(broken.status, 400);
    assert_eq!(broken.json()["error"]["type"], "invalid_request_error");
    let wrong_method = send("GET", &gw.url("/v1/messages"), &[], "").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.json()["type"], "error");
    // Other routes keep OpenAI's shape.
    let chat = post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "nope", "messages": []}),
    )
    .await;
    assert_eq!(chat.error_code(), "model_not_found");
}

#[tokio::test]
async fn token_counts_pass_through_to_anthropic_and_are_estimated_elsewhere() {
    let mock = Mock::start().await;
    mock.script([Reply::Json(200, json!({"input_tokens": 42}))]);
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    let body = json!({"model": "claude", "messages": [{"role": "user", "content": "hello there"}]});
    let counted = post_json(&gw.url("/v1/messages/count_tokens?beta=true"), &[], body.clone()).await;
    assert_eq!(counted.json(), json!({"input_tokens": 42}));
    assert_eq!(mock.calls()[0].path, "/v1/messages/count_tokens");
    let mut body = body;
    body["model"] = json!("kimi");
    let estimated = post_json(&gw.url("/messages/count_tokens"), &[], body.clone()).await;
    assert_eq!(estimated.status, 200);
    let n = estimated.json()["input_tokens"].as_u64().unwrap();
    // An estimate that errs high: at least a token per four bytes of text.
    assert!(n >= "hello there".len() as u64 / 4 && n > 0, "{n}");
    // An image counts at a flat rate, not by the size of its base64 text.
    let image =
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A".repeat(300_000)}});
    body["messages"][0]["content"] = json!([{"type": "text", "text": "what is this?"}, image]);
    let with_image = post_json(&gw.url("/messages/count_tokens"), &[], body.clone()).await;
    let n = with_image.json()["input_tokens"].as_u64().unwrap();
    assert!((1000..5000).contains(&n), "{n}");
    // A body that is not a Messages request gets Anthropic's 400.
    body["messages"][0]["content"] = json!(7);
    let bad = post_json(&gw.url("/messages/count_tokens"), &[], body).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["type"], "invalid_request_error");
    assert_eq!(mock.calls().len(), 1, "the estimate asks no provider");
}

#[tokio::test]
async fn openai_only_endpoints_are_refused_for_anthropic_deployments() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    let answer = post_json(&gw.url("/v1/embeddings"), &[], json!({"model": "claude", "input": "x"})).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error_code(), "endpoint_not_supported");
    assert!(mock.calls().is_empty());
}

/// The data payloads of an SSE body, with their `event:` names.
fn sse_events(text: &str) -> Vec<(Option<String>, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut name = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(rest) = line.strip_prefix("event:") {
                name = Some(rest.trim().to_string());
            } else if let Some(rest) = line.strip_prefix("data:") {
                data.push_str(rest.trim_start());
            }
        }
        if data.is_empty() || data == "[DONE]" {
            continue;
        }
        out.push((
            name,
            serde_json::from_str(&data).unwrap_or_else(|_| panic!("JSON data: {data}")),
        ));
    }
    out
}

/// A chat stream as Kimi sends it: reasoning, a tool call whose arguments
/// come in fragments, `finish_reason` on its own, usage in a trailing chunk.
fn kimi_tool_stream() -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "kimi-for-coding",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"reasoning_content": "I should list files."}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "functions.Bash:0", "type": "function",
                   "function": {"name": "Bash", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"command\":"}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"ls\"}"}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("stop")),
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "kimi-for-coding", "choices": [],
               "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
                         "prompt_tokens_details": {"cached_tokens": 100}}})
        .to_string(),
    ]
}

#[tokio::test]
async fn claude_code_on_a_chat_provider_gets_anthropic_events_with_tool_use_and_full_usage() {
    let mock = Mock::start().await;
    mock.script([Reply::Sse(kimi_tool_stream(), std::time::Duration::ZERO)]);
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    let body = json!({"model": "kimi", "max_tokens": 32000, "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "tools": [{"name": "Bash", "description": "Run a command", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "list files"}]}]});
    let (status, frames) = stream_frames(&gw.url("/v1/messages?beta=true"), &[], body).await;
    assert_eq!(status, 200);
    let events = sse_events(&frames_text(&frames));
    for (name, data) in &events {
        assert_eq!(name.as_deref(), data["type"].as_str(), "event line = data.type");
    }
    let types: Vec<&str> = events.iter().map(|(_, d)| d["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"message_start"));
    assert_eq!(types.last(), Some(&"message_stop"));
    assert_eq!(events[0].1["message"]["model"], "kimi", "the requested name is echoed");
    let starts: Vec<&Value> = events
        .iter()
        .filter(|(_, d)| d["type"] == "content_block_start")
        .map(|(_, d)| &d["content_block"])
        .collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert_eq!(starts[0]["type"], "thinking");
    assert_eq!(starts[1]["type"], "tool_use");
    assert_eq!(starts[1]["name"], "Bash");
    let id = starts[1]["id"].as_str().unwrap();
    assert!(
        id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{id}"
    );
    let args: String = events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(args, "{\"command\":\"ls\"}");
    let delta = events.iter().find(|(_, d)| d["type"] == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use", "the tool override");
    let usage = &delta.1["usage"];
    assert_eq!(usage["input_tokens"], 20);
    assert_eq!(usage["cache_read_input_tokens"], 100);
    assert_eq!(usage["output_tokens"], 30);
    // Upstream got a chat request: streamed with usage, system first, the tool as a function.
    let sent = mock.calls()[0].json();
    assert_eq!(mock.calls()[0].path, "/v1/chat/completions");
    assert_eq!(sent["model"], "kimi-for-coding");
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["tools"][0]["function"]["name"], "Bash");
    assert!(mock.calls()[0].header("anthropic-version").is_none());
}

#[tokio::test]
async fn a_chat_answer_becomes_an_anthropic_message_when_not_streamed() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    let answer = post_json(&gw.url("/v1/messages"), &[], messages_body("kimi", false)).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let v = answer.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "kimi");
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(v["content"][0]["text"], "echo via /v1/chat/completions");
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"]["input_tokens"], 3);
    assert_eq!(v["usage"]["output_tokens"], 4);
}

#[tokio::test]
async fn bad_messages_requests_get_an_anthropic_400_naming_the_field() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    for (body, field) in [
        (
            json!({"model": "kimi", "messages": [{"role": "user", "content": "hi"}]}),
            "max_tokens",
        ),
        (
            json!({"model": "kimi", "max_tokens": 10, "messages": [{"role": "user", "content": 7}]}),
            "content",
        ),
        (
            json!({"model": "kimi", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "hologram"}]}]}),
            "hologram",
        ),
    ] {
        let answer = post_json(&gw.url("/v1/messages"), &[], body.clone()).await;
        assert_eq!(answer.status, 400, "{body}");
        let v = answer.json();
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{field} in {message}");
    }
    assert!(mock.calls().is_empty(), "nothing reached the provider");
}

#[tokio::test]
async fn openai_clients_of_an_anthropic_deployment_get_chat_chunks_with_usage() {
    let mock = Mock::start().await;
    mock.script([Reply::RawSse(anthropic_events("Bonjour"))]);
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    let body = json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]});
    let (status, frames) = stream_frames(&gw.url("/v1/chat/completions"), &[], body).await;
    assert_eq!(status, 200);
    let text = frames_text(&frames);
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let chunks = sse_events(&text);
    let content: String = chunks
        .iter()
        .filter_map(|(_, c)| c["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect();
    assert_eq!(content, "Bonjour");
    let usage = chunks
        .iter()
        .find_map(|(_, c)| c.get("usage").filter(|u| !u.is_null()))
        .unwrap();
    assert_eq!(usage["prompt_tokens"], 125);
    assert_eq!(usage["completion_tokens"], 9);
    let call = &mock.calls()[0];
    assert_eq!(call.path, "/v1/messages");
    let sent = call.json();
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert_eq!(sent["system"][0]["text"], "be brief");
    assert_eq!(
        sent["max_tokens"], 64000,
        "Anthropic needs max_tokens: the model's limit from the table"
    );
    assert_eq!(call.header("x-api-key"), Some("sk-ant-upstream"));
}

#[tokio::test]
async fn a_stream_that_breaks_ends_with_an_anthropic_error_event() {
    let mock = Mock::start().await;
    let first = kimi_tool_stream().into_iter().take(2).collect();
    mock.script([Reply::SseBroken(first, std::time::Duration::ZERO)]);
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    let (status, frames) = stream_frames(&gw.url("/v1/messages"), &[], messages_body("kimi", true)).await;
    assert_eq!(status, 200);
    let events = sse_events(&frames_text(&frames));
    let last = &events.last().unwrap().1;
    assert_eq!(last["type"], "error", "{events:?}");
    assert!(!events.iter().any(|(_, d)| d["type"] == "message_stop"));
}

#[tokio::test]
async fn codex_on_a_chat_provider_gets_responses_events() {
    let mock = Mock::start().await;
    mock.script([Reply::Sse(kimi_tool_stream(), std::time::Duration::ZERO)]);
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    let body = json!({"model": "kimi", "stream": true, "instructions": "You are Codex.",
        "input": [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "be careful"}]},
                  {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]}],
        "tools": [{"type": "function", "name": "Bash", "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}]});
    let (status, frames) = stream_frames(&gw.url("/v1/responses"), &[], body).await;
    assert_eq!(status, 200);
    let events = sse_events(&frames_text(&frames));
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(name.as_deref(), data["type"].as_str());
        assert_eq!(data["sequence_number"], i as u64, "dense sequence numbers");
    }
    let done: Vec<&Value> = events
        .iter()
        .filter(|(_, d)| d["type"] == "response.output_item.done")
        .map(|(_, d)| &d["item"])
        .collect();
    let call = done.iter().find(|i| i["type"] == "function_call").unwrap();
    assert_eq!(call["name"], "Bash");
    assert_eq!(call["arguments"], "{\"command\":\"ls\"}");
    assert!(call["call_id"].is_string());
    let last = &events.last().unwrap().1;
    assert_eq!(last["type"], "response.completed");
    assert_eq!(last["response"]["usage"]["input_tokens"], 120);
    assert_eq!(last["response"]["usage"]["output_tokens"], 30);
    assert_eq!(last["response"]["usage"]["total_tokens"], 150);
    let sent = mock.calls()[0].json();
    assert_eq!(mock.calls()[0].path, "/v1/chat/completions");
    assert!(sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["role"] != "developer"));
    assert_eq!(sent["messages"][0]["role"], "system");
}

#[tokio::test]
async fn responses_pass_through_where_the_server_serves_them() {
    let mock = Mock::start().await;
    let yaml = format!(
        r#"model_list:
  - model_name: native
    litellm_params:
      model: openai/gpt-5
      api_base: {base}
      api_key: k
      use_chat_completions_api: false
  - model_name: bridged
    litellm_params:
      model: openai/chat_completions/gpt-5
      api_base: {base}
      api_key: k
"#,
        base = mock.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let body = |model: &str| json!({"model": model, "input": "hi"});
    let native = post_json(&gw.url("/v1/responses"), &[], body("native")).await;
    assert_eq!(native.status, 200);
    assert_eq!(mock.calls()[0].path, "/v1/responses");
    let bridged = post_json(&gw.url("/v1/responses"), &[], body("bridged")).await;
    assert_eq!(bridged.status, 200, "{:?}", bridged.body);
    assert_eq!(mock.calls()[1].path, "/v1/chat/completions");
    assert_eq!(
        mock.calls()[1].json()["model"],
        "gpt-5",
        "the chat_completions/ marker is not sent"
    );
    assert_eq!(bridged.json()["object"], "response");
}

#[tokio::test]
async fn previous_response_id_is_refused_clearly_by_a_stateless_gateway() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&mixed_config(&mock)).await;
    let body = json!({"model": "kimi", "input": "and then?", "previous_response_id": "resp_123"});
    let answer = post_json(&gw.url("/v1/responses"), &[], body).await;
    assert_eq!(answer.status, 400);
    assert!(answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("previous_response_id"));
    assert!(mock.calls().is_empty());
}

#[tokio::test]
async fn the_quickstart_mock_answers_anthropic_clients_streamed_and_not() {
    let yaml = "model_list:\n  - model_name: demo\n    litellm_params:\n      model: openai/demo-model\n      mock_response: Hello from the mock\n";
    let gw = TestGateway::start(yaml).await;
    let (status, frames) = stream_frames(&gw.url("/v1/messages?beta=true"), &[], messages_body("demo", true)).await;
    assert_eq!(status, 200);
    let events = sse_events(&frames_text(&frames));
    let text: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, "Hello from the mock");
    assert_eq!(events.last().unwrap().1["type"], "message_stop");
    let whole = post_json(&gw.url("/v1/messages"), &[], messages_body("demo", false)).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.json()["content"][0]["text"], "Hello from the mock");
}
