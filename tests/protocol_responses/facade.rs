//! The façade's Responses arms: Codex's request to a chat upstream, the
//! translated stream and whole answer, and the reverse (a chat client on a
//! Responses-only upstream).

use serde_json::{json, Value};
use tollgate::protocol::{translate_answer_seeded, translate_request, Format, RequestDefaults, Translator};

use crate::request::golden;
use crate::validator::validate;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/protocol_responses");

fn codex_body() -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/codex_request.json")).expect("fixture")
}

#[test]
fn codex_request_becomes_a_chat_request() {
    let t = translate_request(
        Format::Responses,
        Format::Chat,
        &codex_body(),
        "kimi-k2",
        &RequestDefaults::default(),
    )
    .expect("translates");
    let body: Value = serde_json::from_slice(&t.body).expect("JSON");
    golden("codex_request.chat.json", &body);
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert!(
        !roles.contains(&"developer"),
        "never `developer` to a chat upstream: {roles:?}"
    );
    assert_eq!(body["model"], "kimi-k2");
    assert_eq!(body["stream_options"]["include_usage"], true);
    let tools: Vec<&str> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(tools.contains(&"apply_patch") && tools.contains(&"multi_agent_v1__close_agent"));
    assert!(!tools.contains(&"web_search"));
    assert!(t.notes.iter().any(|n| n.contains("web_search")), "{:?}", t.notes);
    assert!(t.notes.iter().any(|n| n.contains("local_shell_call")), "{:?}", t.notes);
    assert_eq!(t.context.model, "gw-full", "the answer echoes the client's model");
    assert_eq!(t.context.custom_tools, ["apply_patch"]);
    assert!(t.context.tool_names.contains(&(
        "multi_agent_v1__close_agent".to_owned(),
        "multi_agent_v1.close_agent".to_owned()
    )));
}

#[test]
fn stateful_requests_get_a_400_naming_the_field() {
    let body = json!({"model": "m", "input": "hi", "previous_response_id": "resp_1"}).to_string();
    let err = translate_request(
        Format::Responses,
        Format::Chat,
        body.as_bytes(),
        "up",
        &RequestDefaults::default(),
    )
    .expect_err("refused");
    assert_eq!(err.status(), 400);
    assert_eq!(err.field(), Some("previous_response_id"));
    assert!(err.to_string().contains("stateless"), "{err}");
}

#[test]
fn a_chat_stream_reaches_codex_as_a_valid_responses_stream() {
    let t = translate_request(
        Format::Responses,
        Format::Chat,
        &codex_body(),
        "kimi-k2",
        &RequestDefaults::default(),
    )
    .expect("translates");
    let mut translator = Translator::with_seed(&t.context, "n1", 1_764_547_200).expect("a translator");
    let mut out = translator.start().to_vec();
    let upstream = std::fs::read(format!("{FIXTURES}/chat/namespace_tool.sse")).expect("fixture");
    for chunk in upstream.chunks(17) {
        out.extend_from_slice(&translator.feed(chunk));
        if let Some(keepalive) = translator.keepalive() {
            out.extend_from_slice(&keepalive);
        }
    }
    out.extend_from_slice(&translator.finish());
    assert!(translator.ended());
    let outcome = validate(&out);
    assert_eq!(outcome.terminal, "response.completed");
    assert_eq!(outcome.response["id"], "resp_n1");
    assert_eq!(outcome.items[0]["name"], "close_agent");
    assert_eq!(outcome.items[0]["namespace"], "multi_agent_v1");
    assert_eq!(translator.usage().input, 120);
}

#[test]
fn a_cut_chat_stream_fails_through_the_facade() {
    let t = translate_request(
        Format::Responses,
        Format::Chat,
        &codex_body(),
        "up",
        &RequestDefaults::default(),
    )
    .expect("translates");
    let mut translator = Translator::with_seed(&t.context, "n2", 1).expect("a translator");
    let mut out = translator.start().to_vec();
    out.extend_from_slice(
        &translator.feed(&std::fs::read(format!("{FIXTURES}/chat/eof_midstream.sse")).expect("fixture")),
    );
    out.extend_from_slice(&translator.finish());
    assert_eq!(validate(&out).terminal, "response.failed");
}

#[test]
fn a_whole_chat_answer_becomes_the_completed_response_object() {
    let t = translate_request(
        Format::Responses,
        Format::Chat,
        &codex_body(),
        "up",
        &RequestDefaults::default(),
    )
    .expect("translates");
    let answer = json!({"id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "up",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Patching.",
            "reasoning_content": "A patch is needed.",
            "tool_calls": [{"id": "call_p", "type": "function", "function": {"name": "apply_patch",
                "arguments": json!({"input": "*** Begin Patch\n*** End Patch\n"}).to_string()}}]}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}});
    let out = translate_answer_seeded(&t.context, answer.to_string().as_bytes(), "n3").expect("translates");
    assert_eq!(out.status, 200);
    let body: Value = serde_json::from_slice(&out.body).expect("JSON");
    serde_json::from_value::<async_openai::types::responses::Response>(body.clone()).expect("the SDK reads it");
    assert_eq!(body["id"], "resp_n3");
    assert_eq!(body["status"], "completed");
    let types: Vec<&str> = body["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["type"].as_str())
        .collect();
    assert_eq!(types, ["reasoning", "message", "custom_tool_call"]);
    assert_eq!(body["output"][2]["input"], "*** Begin Patch\n*** End Patch\n");
    assert_eq!(body["usage"]["total_tokens"], 70);
}

#[test]
fn a_chat_client_reaches_a_responses_only_upstream() {
    let chat = json!({"model": "gw", "stream": true, "max_tokens": 100, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_w", "type": "function",
            "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_w", "content": "rain"}],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]});
    let t = translate_request(
        Format::Chat,
        Format::Responses,
        chat.to_string().as_bytes(),
        "gpt-x",
        &RequestDefaults::default(),
    )
    .expect("translates");
    let body: Value = serde_json::from_slice(&t.body).expect("JSON");
    golden("chat_request.responses.json", &body);
    assert_eq!(body["max_output_tokens"], 100);
    assert_eq!(body["input"][2]["type"], "function_call");
    assert_eq!(body["input"][3]["type"], "function_call_output");
    assert_eq!(body["tools"][0]["name"], "weather");

    let upstream = concat!(
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_up\",\"status\":\"in_progress\"}}\n\n",
        "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":1,\"output_index\":0,\"item\":{\"type\":\"message\",\"id\":\"m\"}}\n\n",
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":2,\"item_id\":\"m\",\"delta\":\"Rainy.\"}\n\n",
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":3,\"response\":{\"id\":\"resp_up\",\"status\":\"completed\",\"usage\":{\"input_tokens\":30,\"output_tokens\":3,\"total_tokens\":33}}}\n\n",
    );
    let mut translator = Translator::with_seed(&t.context, "n4", 1).expect("a translator");
    let mut out = translator.feed(upstream.as_bytes()).to_vec();
    out.extend_from_slice(&translator.finish());
    let text = String::from_utf8(out).expect("UTF-8");
    assert!(text.contains("\"content\":\"Rainy.\""), "{text}");
    assert!(text.contains("\"finish_reason\":\"stop\""), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert_eq!(translator.usage().input, 30);
}

#[test]
fn an_anthropic_stream_reaches_codex_with_its_custom_call() {
    let t = translate_request(
        Format::Responses,
        Format::Anthropic,
        &codex_body(),
        "claude-x",
        &RequestDefaults::default(),
    )
    .expect("translates");
    let body: Value = serde_json::from_slice(&t.body).expect("JSON");
    assert!(
        body["system"].to_string().contains("Codex CLI"),
        "developer messages become the system prompt"
    );
    let patch = json!({"input": "*** Begin Patch\n*** End Patch\n"}).to_string();
    let (a, b) = patch.split_at(12);
    let frames = [
        json!({"type": "message_start", "message": {"id": "msg_a", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [], "usage": {"input_tokens": 80, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Patch it."}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "apply_patch", "input": {}}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": a}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": b}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}}),
        json!({"type": "message_stop"}),
    ];
    let upstream: String = frames
        .iter()
        .map(|f| format!("event: {}\ndata: {f}\n\n", f["type"].as_str().unwrap_or_default()))
        .collect();
    let mut translator = Translator::with_seed(&t.context, "n5", 1).expect("a translator");
    let mut out = translator.start().to_vec();
    for chunk in upstream.as_bytes().chunks(29) {
        out.extend_from_slice(&translator.feed(chunk));
    }
    out.extend_from_slice(&translator.finish());
    let outcome = validate(&out);
    assert_eq!(outcome.terminal, "response.completed");
    assert_eq!(outcome.items[0]["summary"][0]["text"], "Patch it.");
    assert_eq!(outcome.items[1]["type"], "custom_tool_call");
    assert_eq!(outcome.items[1]["input"], "*** Begin Patch\n*** End Patch\n");
    assert_eq!(outcome.response["usage"]["output_tokens"], 30);
}
