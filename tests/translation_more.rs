//! More of the request path around translation: warning headers for what a
//! stateless chat bridge drops, the quickstart's mock on `/v1/messages`, chat
//! clients on a Responses-only deployment, gateway-made thinking never
//! replayed to Anthropic, and usage counted for translated streams.

mod common;

use common::*;
use serde_json::{json, Value};

/// One `anthropic/` entry, one chat-only `openai/` entry (`kimi`), a priced
/// chat-only one (`priced`, gpt-4o's prices) and a Responses-only one (`pro`).
fn config(mock: &Mock) -> String {
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
  - model_name: priced-more
    litellm_params:
      model: openai/gpt-4o
      api_base: http://{addr}/v1
      api_key: sk-priced-upstream
      use_chat_completions_api: true
  - model_name: pro
    litellm_params:
      model: openai/gpt-5-pro
      api_base: http://{addr}/v1
      api_key: sk-pro-upstream
    model_info:
      mode: responses
"#,
        addr = mock.addr
    )
}

/// The data payloads of an SSE body with their `event:` names (`[DONE]` left out).
fn sse_events(text: &str) -> Vec<(Option<String>, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let name = block
            .lines()
            .find_map(|l| l.strip_prefix("event:"))
            .map(|n| n.trim().to_string());
        let data: String = block
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim_start)
            .collect();
        if data.is_empty() || data == "[DONE]" {
            continue;
        }
        let value = serde_json::from_str(&data).unwrap_or_else(|_| panic!("JSON data: {data}"));
        out.push((name, value));
    }
    out
}

/// Checks Anthropic's stream grammar (every event named as its type;
/// `message_start`, then blocks each opened, delta'd and closed at one index
/// in order, then `message_delta` and `message_stop`) and returns the events.
fn anthropic_stream(text: &str) -> Vec<Value> {
    let events = sse_events(text);
    let mut open: Option<u64> = None;
    let mut next_index = 0;
    let types: Vec<&str> = events.iter().map(|(_, d)| d["type"].as_str().unwrap_or("?")).collect();
    assert_eq!(types.first(), Some(&"message_start"), "{types:?}");
    assert_eq!(types.last(), Some(&"message_stop"), "{types:?}");
    assert_eq!(
        types.get(types.len().wrapping_sub(2)),
        Some(&"message_delta"),
        "{types:?}"
    );
    for (name, data) in &events {
        assert_eq!(name.as_deref(), data["type"].as_str(), "event: lines name the type");
        let index = data["index"].as_u64();
        match data["type"].as_str().unwrap_or_default() {
            "content_block_start" => {
                assert_eq!(open, None, "a block opened inside another: {types:?}");
                assert_eq!(index, Some(next_index), "blocks in index order");
                open = index;
                next_index += 1;
            }
            "content_block_delta" => assert_eq!(open, index, "a delta outside its block"),
            "content_block_stop" => {
                assert_eq!(open, index, "a stop for a block not open");
                open = None;
            }
            "message_delta" | "message_stop" => assert_eq!(open, None, "a block left open"),
            _ => {}
        }
    }
    events.into_iter().map(|(_, d)| d).collect()
}

fn chat_chunk(delta: Value, finish: Value) -> String {
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "upstream",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    .to_string()
}

fn usage_chunk(prompt: u64, completion: u64) -> String {
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "upstream", "choices": [],
           "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}})
    .to_string()
}

/// A short chat answer: `text` in two pieces, `stop`, then usage.
fn chat_text_stream(text: &str) -> Vec<String> {
    let (a, b) = text.split_at(text.len() / 2);
    vec![
        chat_chunk(json!({"role": "assistant", "content": a}), Value::Null),
        chat_chunk(json!({"content": b}), Value::Null),
        chat_chunk(json!({}), json!("stop")),
        usage_chunk(11, 7),
    ]
}

// ---- x-tollgate-warning -------------------------------------------------

/// Codex's request shape with a built-in tool and `store: true`.
fn codex_body(stream: bool, web_search: bool, store: bool) -> Value {
    let mut tools = vec![json!({"type": "function", "name": "exec_command",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}})];
    if web_search {
        tools.push(json!({"type": "web_search", "external_web_access": true}));
    }
    json!({"model": "kimi", "stream": stream, "store": store, "tool_choice": "auto",
           "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
           "tools": tools})
}

#[tokio::test]
async fn codex_built_in_tools_and_store_are_dropped_with_a_warning_header() {
    let mock = Mock::start().await;
    mock.script([
        Reply::Sse(chat_text_stream("Hello"), std::time::Duration::ZERO),
        Reply::Json(
            200,
            json!({"id": "c", "object": "chat.completion", "created": 1, "model": "k",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}),
        ),
    ]);
    let gw = TestGateway::start(&config(&mock)).await;
    for stream in [true, false] {
        let answer = post_json(&gw.url("/v1/responses"), &[], codex_body(stream, true, true)).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        let warning = answer
            .header("x-tollgate-warning")
            .unwrap_or_else(|| panic!("a warning header (stream: {stream}): {:?}", answer.headers));
        assert!(warning.contains("web_search"), "names the dropped tool: {warning}");
        assert!(warning.contains("store"), "names store: {warning}");
        let text = String::from_utf8_lossy(&answer.body);
        assert!(text.contains("Hello"), "the answer still comes: {text}");
    }
    for call in mock.calls() {
        let sent = call.json();
        assert_eq!(call.path, "/v1/chat/completions");
        let tools = sent["tools"].as_array().cloned().unwrap_or_default();
        assert_eq!(tools.len(), 1, "only the function tool goes upstream: {sent}");
        assert_eq!(tools[0]["function"]["name"], "exec_command");
        for field in ["store", "web_search_options", "include", "input"] {
            assert!(sent.get(field).is_none(), "no `{field}` for a chat provider: {sent}");
        }
    }
}

#[tokio::test]
async fn a_request_with_nothing_dropped_has_no_warning_header() {
    let mock = Mock::start().await;
    mock.script([Reply::Sse(chat_text_stream("Hello"), std::time::Duration::ZERO)]);
    let gw = TestGateway::start(&config(&mock)).await;
    let answer = post_json(&gw.url("/v1/responses"), &[], codex_body(true, false, false)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-tollgate-warning"), None);
}

// ---- the quickstart's mock_response on /v1/messages ---------------------

async fn quickstart() -> (TestGateway, String) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart.yaml");
    let yaml = std::fs::read_to_string(path).unwrap();
    let parsed: Value = serde_json::to_value(yaml_mock_text(&yaml)).unwrap();
    (
        TestGateway::start(&yaml).await,
        parsed.as_str().unwrap_or_default().to_string(),
    )
}

/// The `mock_response` text of the quickstart (one line, double-quoted).
fn yaml_mock_text(yaml: &str) -> String {
    let line = yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("mock_response:"))
        .expect("the quickstart has a mock_response");
    serde_json::from_str(line.trim()).expect("a double-quoted string")
}

#[tokio::test]
async fn the_quickstart_mock_answers_messages_in_anthropics_shape() {
    let (gw, text) = quickstart().await;
    let body = json!({"model": "demo", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    let answer = post_json(&gw.url("/v1/messages"), &[], body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let v = answer.json();
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "demo");
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["content"], json!([{"type": "text", "text": text}]));
    assert!(v["id"].as_str().is_some_and(|id| id.starts_with("msg_")), "{v}");
    assert!(
        v["usage"]["input_tokens"].is_u64() && v["usage"]["output_tokens"].is_u64(),
        "{v}"
    );
}

#[tokio::test]
async fn the_quickstart_mock_streams_messages_as_anthropic_events() {
    let (gw, text) = quickstart().await;
    let body = json!({"model": "demo", "max_tokens": 100, "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let (status, frames) = stream_frames(&gw.url("/v1/messages?beta=true"), &[], body).await;
    assert_eq!(status, 200);
    let events = anthropic_stream(&frames_text(&frames));
    let streamed: String = events.iter().filter_map(|e| e["delta"]["text"].as_str()).collect();
    assert_eq!(streamed, text);
    assert_eq!(events[0]["message"]["model"], "demo");
    let delta = events.iter().find(|e| e["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
}

// ---- chat clients on a Responses-only deployment ------------------------

fn responses_answer(text: &str) -> Value {
    json!({"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-5-pro",
           "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                       "content": [{"type": "output_text", "text": text, "annotations": []}]}],
           "usage": {"input_tokens": 13, "output_tokens": 5, "total_tokens": 18,
                     "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}})
}

/// A Responses stream of one text message, as OpenAI sends it.
fn responses_events(text: &str) -> Vec<String> {
    let (a, b) = text.split_at(text.len() / 2);
    let mut pending = responses_answer(text);
    pending["status"] = json!("in_progress");
    pending["output"] = json!([]);
    pending["usage"] = Value::Null;
    let item = responses_answer(text)["output"][0].clone();
    let events = [
        json!({"type": "response.created", "response": pending}),
        json!({"type": "response.in_progress", "response": pending}),
        json!({"type": "response.output_item.added", "output_index": 0,
               "item": {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []}}),
        json!({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0,
               "part": {"type": "output_text", "text": "", "annotations": []}}),
        json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": a}),
        json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": b}),
        json!({"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0, "text": text}),
        json!({"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
               "part": {"type": "output_text", "text": text, "annotations": []}}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        json!({"type": "response.completed", "response": responses_answer(text)}),
    ];
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut e = e.clone();
            e["sequence_number"] = json!(i);
            format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or_default())
        })
        .collect()
}

#[tokio::test]
async fn a_chat_client_on_a_responses_only_deployment_is_translated() {
    let mock = Mock::start().await;
    mock.script([Reply::Json(200, responses_answer("Deep answer"))]);
    let gw = TestGateway::start(&config(&mock)).await;
    let body = json!({"model": "pro", "max_tokens": 50,
                      "messages": [{"role": "system", "content": "be deep"}, {"role": "user", "content": "why?"}]});
    let answer = post_json(&gw.url("/v1/chat/completions"), &[], body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let v = answer.json();
    assert_eq!(v["object"], "chat.completion", "{v}");
    assert_eq!(v["model"], "pro");
    assert_eq!(v["choices"][0]["message"]["content"], "Deep answer");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 13);
    assert_eq!(v["usage"]["completion_tokens"], 5);

    let call = &mock.calls()[0];
    assert_eq!(call.path, "/v1/responses", "a Responses-only model gets /v1/responses");
    assert_eq!(call.header("authorization"), Some("Bearer sk-pro-upstream"));
    let sent = call.json();
    assert_eq!(sent["model"], "gpt-5-pro");
    assert_eq!(sent["max_output_tokens"], 50);
    assert!(sent.get("messages").is_none(), "no chat fields upstream: {sent}");
    let input = serde_json::to_string(&sent["input"]).unwrap();
    assert!(input.contains("why?"), "the user turn is an input item: {sent}");
    let system = format!("{}{input}", sent["instructions"]);
    assert!(system.contains("be deep"), "the system prompt goes too: {sent}");
}

#[tokio::test]
async fn a_chat_client_streams_from_a_responses_only_deployment_with_usage() {
    let mock = Mock::start().await;
    mock.script([Reply::RawSse(responses_events("Deep answer"))]);
    let gw = TestGateway::start(&config(&mock)).await;
    let body = json!({"model": "pro", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "why?"}]});
    let (status, frames) = stream_frames(&gw.url("/v1/chat/completions"), &[], body).await;
    assert_eq!(status, 200);
    let text = frames_text(&frames);
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let chunks = sse_events(&text);
    let content: String = chunks
        .iter()
        .filter_map(|(_, c)| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Deep answer");
    assert!(chunks
        .iter()
        .all(|(_, c)| c["object"] == "chat.completion.chunk" && c["model"] == "pro"));
    let finish = chunks
        .iter()
        .find_map(|(_, c)| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("stop"));
    let usage = &chunks.last().unwrap().1;
    assert_eq!(usage["choices"], json!([]), "usage comes in its own last chunk");
    assert_eq!(usage["usage"]["prompt_tokens"], 13);
    assert_eq!(usage["usage"]["completion_tokens"], 5);
    let call = &mock.calls()[0];
    assert_eq!(call.path, "/v1/responses");
    assert_eq!(call.json()["stream"], true);
}

// ---- gateway-made thinking never goes to Anthropic ----------------------

/// Kimi thinking, then calling a tool.
fn kimi_thinking_tool_stream() -> Vec<String> {
    vec![
        chat_chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chat_chunk(json!({"reasoning_content": "I should list files."}), Value::Null),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "id": "functions.Bash:0", "type": "function",
                   "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}}]}),
            Value::Null,
        ),
        chat_chunk(json!({}), json!("tool_calls")),
        usage_chunk(20, 9),
    ]
}

fn anthropic_text_events(text: &str) -> Vec<String> {
    let events = [
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 20, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": 3}}),
        json!({"type": "message_stop"}),
    ];
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or_default()))
        .collect()
}

/// Every thinking block of an Anthropic request body.
fn thinking_blocks(sent: &Value) -> Vec<Value> {
    let messages = sent["messages"].as_array().cloned().unwrap_or_default();
    messages
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "thinking" || b["type"] == "redacted_thinking")
        .cloned()
        .collect()
}

/// Claude Code's turn on Kimi: the gateway makes a thinking block out of
/// Kimi's `reasoning_content`. Returns the assistant message as the client
/// would replay it (its blocks gathered from the stream).
async fn a_turn_on_kimi(gw: &TestGateway) -> Value {
    let body = json!({"model": "kimi", "max_tokens": 1000, "stream": true,
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "list files"}]});
    let (status, frames) = stream_frames(&gw.url("/v1/messages"), &[], body).await;
    assert_eq!(status, 200);
    let mut blocks: Vec<Value> = Vec::new();
    for event in anthropic_stream(&frames_text(&frames)) {
        match event["type"].as_str().unwrap_or_default() {
            "content_block_start" => blocks.push(event["content_block"].clone()),
            "content_block_delta" => {
                let (Some(block), delta) = (blocks.last_mut(), &event["delta"]) else {
                    continue;
                };
                match delta["type"].as_str().unwrap_or_default() {
                    "thinking_delta" => {
                        let text = format!(
                            "{}{}",
                            block["thinking"].as_str().unwrap_or_default(),
                            delta["thinking"].as_str().unwrap_or_default()
                        );
                        block["thinking"] = json!(text);
                    }
                    "signature_delta" => block["signature"] = delta["signature"].clone(),
                    "input_json_delta" => {
                        let text = format!(
                            "{}{}",
                            block["partial"].as_str().unwrap_or_default(),
                            delta["partial_json"].as_str().unwrap_or_default()
                        );
                        block["partial"] = json!(text);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    for block in &mut blocks {
        if let Some(partial) = block.as_object_mut().and_then(|b| b.remove("partial")) {
            block["input"] = serde_json::from_str(partial.as_str().unwrap_or_default()).unwrap();
        }
    }
    json!({"role": "assistant", "content": blocks})
}

#[tokio::test]
async fn the_gateways_own_thinking_blocks_carry_no_signature_anthropic_would_check() {
    let mock = Mock::start().await;
    mock.script([Reply::Sse(kimi_thinking_tool_stream(), std::time::Duration::ZERO)]);
    let gw = TestGateway::start(&config(&mock)).await;
    let turn = a_turn_on_kimi(&gw).await;
    let thinking = thinking_blocks(&json!({"messages": [turn]}));
    assert_eq!(thinking.len(), 1, "{turn}");
    assert_eq!(thinking[0]["thinking"], "I should list files.");
    assert_eq!(
        thinking[0]["signature"], "",
        "the gateway mints no signature: nothing a real Anthropic upstream could mistake for its own"
    );
}

/// The same conversation continued on an `anthropic/` deployment (a fallback,
/// or an alias moved): the thinking Kimi's turn left must not go to Anthropic,
/// which rejects it ("Invalid signature").
#[tokio::test]
async fn gateway_made_thinking_is_not_replayed_to_anthropic_by_an_anthropic_client() {
    let mock = Mock::start().await;
    mock.script([
        Reply::Sse(kimi_thinking_tool_stream(), std::time::Duration::ZERO),
        Reply::RawSse(anthropic_text_events("done")),
    ]);
    let gw = TestGateway::start(&config(&mock)).await;
    let turn = a_turn_on_kimi(&gw).await;
    let tool_id = turn["content"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["type"] == "tool_use"))
        .map(|b| b["id"].clone())
        .unwrap();
    let body = json!({"model": "claude", "max_tokens": 2000, "stream": true,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "list files"}, turn,
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "a.txt"}]}]});
    let (status, _) = stream_frames(&gw.url("/v1/messages"), &[], body).await;
    assert_eq!(status, 200);
    let sent = mock.calls()[1].json();
    assert_eq!(mock.calls()[1].path, "/v1/messages");
    assert_eq!(thinking_blocks(&sent), Vec::<Value>::new(), "{sent}");
}

#[tokio::test]
async fn chat_and_responses_reasoning_is_not_replayed_to_anthropic() {
    let mock = Mock::start().await;
    mock.always(Reply::RawSse(anthropic_text_events("done")));
    let gw = TestGateway::start(&config(&mock)).await;
    // A chat client's history, with Kimi-style reasoning on the tool turn.
    let chat = json!({"model": "claude", "stream": true,
        "messages": [{"role": "user", "content": "list files"},
                     {"role": "assistant", "content": null, "reasoning_content": "I should list files.",
                      "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}]},
                     {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"}],
        "tools": [{"type": "function", "function": {"name": "Bash", "parameters": {"type": "object"}}}]});
    let (status, _) = stream_frames(&gw.url("/v1/chat/completions"), &[], chat).await;
    assert_eq!(status, 200);
    // Codex's history, with the reasoning item the gateway streamed it.
    let codex = json!({"model": "claude", "stream": true,
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]},
                  {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "I should list files."}],
                   "content": null, "encrypted_content": null},
                  {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "Bash", "arguments": "{}"},
                  {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"}],
        "tools": [{"type": "function", "name": "Bash", "parameters": {"type": "object"}}]});
    let (status, _) = stream_frames(&gw.url("/v1/responses"), &[], codex).await;
    assert_eq!(status, 200);
    let calls = mock.calls();
    assert_eq!(calls.len(), 2);
    for call in calls {
        assert_eq!(call.path, "/v1/messages");
        let sent = call.json();
        assert_eq!(thinking_blocks(&sent), Vec::<Value>::new(), "{sent}");
        assert!(
            sent.get("thinking").is_none(),
            "thinking stays off without a block to replay: {sent}"
        );
        let tool_use = sent["messages"][1]["content"].as_array().unwrap();
        assert!(
            tool_use.iter().any(|b| b["type"] == "tool_use"),
            "the tool call itself goes: {sent}"
        );
    }
}

// ---- usage and cost for translated streams ------------------------------

/// The `/metrics` lines that name `model`.
async fn metric_lines(gw: &TestGateway, model: &str) -> Vec<String> {
    let answer = send("GET", &gw.url("/metrics"), &[], "").await;
    assert_eq!(answer.status, 200);
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    let label = format!("\"{model}\"");
    text.lines()
        .filter(|l| l.contains(&label))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn translated_streams_record_tokens_and_cost_for_the_requested_model() {
    let mock = Mock::start().await;
    mock.script([
        Reply::Sse(chat_text_stream("Hello"), std::time::Duration::ZERO),
        Reply::Sse(chat_text_stream("Hello"), std::time::Duration::ZERO),
    ]);
    let gw = TestGateway::start(&config(&mock)).await;
    let messages = json!({"model": "priced-more", "max_tokens": 100, "stream": true,
                          "messages": [{"role": "user", "content": "hi"}]});
    let (status, frames) = stream_frames(&gw.url("/v1/messages"), &[], messages).await;
    assert_eq!(status, 200);
    let events = anthropic_stream(&frames_text(&frames));
    let delta = events.iter().find(|e| e["type"] == "message_delta").unwrap();
    assert_eq!(delta["usage"]["output_tokens"], 7, "{delta}");
    let responses = json!({"model": "priced-more", "stream": true, "input": "hi"});
    let (status, _) = stream_frames(&gw.url("/v1/responses"), &[], responses).await;
    assert_eq!(status, 200);
    let sent = mock.calls()[0].json();
    assert_eq!(
        sent["stream_options"]["include_usage"], true,
        "the gateway asks the chat upstream for usage"
    );

    let lines = metric_lines(&gw, "priced-more").await;
    let all = lines.join("\n");
    let token_sum = |kind: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with("gen_ai_client_token_usage_sum{") && l.contains(&format!("\"{kind}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    assert_eq!(
        token_sum("input"),
        22.0,
        "11 input tokens per stream, both streams:\n{all}"
    );
    assert_eq!(token_sum("output"), 14.0, "7 output tokens per stream:\n{all}");
    let cost: f64 = lines
        .iter()
        .filter(|l| l.starts_with("tollgate_cost_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        cost > 0.0,
        "gpt-4o is priced, so the translated streams cost something:\n{all}"
    );
}

#[tokio::test]
async fn the_quickstart_mock_streams_responses_events_to_codex() {
    let (gw, text) = quickstart().await;
    let body = json!({"model": "demo", "stream": true, "input": "hi"});
    let (status, frames) = stream_frames(&gw.url("/v1/responses"), &[], body).await;
    assert_eq!(status, 200);
    let events = sse_events(&frames_text(&frames));
    let types: Vec<&str> = events.iter().filter_map(|(_, d)| d["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"response.created"), "{types:?}");
    assert_eq!(types.last(), Some(&"response.completed"), "{types:?}");
    let done = events
        .iter()
        .find(|(_, d)| d["type"] == "response.output_item.done")
        .map(|(_, d)| &d["item"]["content"][0]["text"]);
    assert_eq!(done, Some(&json!(text)), "{types:?}");
}

// ---- what of Codex's caching hints goes upstream ------------------------

/// Codex's per-session headers never leave the gateway; its
/// `prompt_cache_key` goes only where the body passes through to a server
/// that serves Responses itself (examples/clients/cli-assistants.md says why).
#[tokio::test]
async fn codex_session_headers_stay_and_prompt_cache_key_goes_only_to_responses_servers() {
    let mock = Mock::start().await;
    mock.script([Reply::Sse(chat_text_stream("Hello"), std::time::Duration::ZERO)]);
    let yaml = format!(
        "{}  - model_name: native
    litellm_params:
      model: openai/gpt-5
      api_base: http://{}/v1
      api_key: k
      use_chat_completions_api: false
",
        config(&mock),
        mock.addr
    );
    let gw = TestGateway::start(&yaml).await;
    let headers = [
        ("session-id", "01a22f38-session"),
        ("thread-id", "01a22f38-thread"),
        ("x-client-request-id", "01a22f38-request"),
        ("x-codex-window-id", "01a22f38-window:0"),
        ("originator", "codex_exec"),
    ];
    for model in ["kimi", "native"] {
        let mut body = codex_body(model == "kimi", false, false);
        body["model"] = json!(model);
        body["prompt_cache_key"] = json!("01a22f38-cache");
        let answer = post_json(&gw.url("/v1/responses"), &headers, body).await;
        assert_eq!(answer.status, 200, "{model}: {:?}", answer.body);
    }
    let calls = mock.calls();
    assert_eq!(calls[0].path, "/v1/chat/completions");
    assert_eq!(calls[1].path, "/v1/responses");
    for call in &calls {
        for (name, _) in headers {
            assert_eq!(call.header(name), None, "{name} went to {}", call.path);
        }
    }
    assert!(
        calls[0].json().get("prompt_cache_key").is_none(),
        "not sent to a chat-only provider"
    );
    assert_eq!(
        calls[1].json()["prompt_cache_key"],
        "01a22f38-cache",
        "kept for OpenAI's cache routing"
    );
}
