//! The shared parts of every SDK case: the Read tool the upstream asks for,
//! the gateway in front of that upstream, and what the upstream must have
//! received of one tool round trip.

use serde_json::{json, Value};

use crate::common::TestGateway;
use crate::upstream::{ToolCall, Upstream, Wire};

/// The key clients use on the gateway; it must never reach an upstream.
pub const GATEWAY_KEY: &str = "sk-tollgate-sdk";

/// What the client's tool "returns"; the final answer quotes it.
pub const TOOL_OUTPUT: &str = "the secret word is UMBER-3390";

/// The call the upstream's first answer asks for.
pub fn read_tool() -> ToolCall {
    ToolCall {
        name: "Read",
        arguments: json!({"file_path": "/project/secret.txt"}),
    }
}

/// An upstream of this format asking for `read_tool`, and tollgate in front of
/// it serving it as `gw-model`: `openai/` on a non-OpenAI base (chat-only by
/// default) or `anthropic/`.
pub async fn start(wire: Wire) -> (Upstream, TestGateway) {
    let upstream = Upstream::start(wire, read_tool()).await;
    let (model, base) = match wire {
        Wire::Chat => ("openai/mock-chat", format!("{}/v1", upstream.origin())),
        Wire::Anthropic => ("anthropic/mock-claude", upstream.origin()),
        Wire::Responses => ("openai/mock-responses", format!("{}/v1", upstream.origin())),
    };
    let config = format!(
        "model_list:
  - model_name: gw-model
    litellm_params:
      model: {model}
      api_base: {base}
      api_key: sk-upstream-sdk
general_settings:
  master_key: {GATEWAY_KEY}
"
    );
    let gateway = TestGateway::start(&config).await;
    (upstream, gateway)
}

/// The upstream saw one tool round trip: two turns offering the tool, both
/// streamed or both not, the second carrying `TOOL_OUTPUT` under `issued`
/// (the call id the upstream's first answer gave), and never the gateway key.
/// Returns the two request bodies.
pub fn assert_seen(upstream: &Upstream, wire: Wire, streamed: bool, issued: &str) -> [Value; 2] {
    let turns = upstream.turns();
    let context = upstream.summary();
    assert_eq!(turns.len(), 2, "one tool call and one answer\n{context}");
    let [first, second] = [turns[0].json(), turns[1].json()];
    for turn in [&first, &second] {
        assert_eq!(
            turn["stream"] == json!(true),
            streamed,
            "streamed upstream iff the client streamed\n{context}"
        );
    }
    assert_eq!(tool_result(wire, &first), None, "no tool output yet\n{context}");
    assert_eq!(
        tool_result(wire, &second),
        Some((issued.to_string(), TOOL_OUTPUT.to_string())),
        "the follow-up carries the tool output under the upstream's call id\n{context}"
    );
    upstream.assert_never_saw(GATEWAY_KEY);
    [first, second]
}

/// The call id and text of the last tool result a request carries.
fn tool_result(wire: Wire, request: &Value) -> Option<(String, String)> {
    let (id, content) = match wire {
        Wire::Chat => {
            let messages = request["messages"].as_array()?;
            let last = messages.iter().rev().find(|m| m["role"] == "tool")?;
            (&last["tool_call_id"], &last["content"])
        }
        Wire::Anthropic => {
            let messages = request["messages"].as_array()?;
            let mut blocks = messages.iter().filter_map(|m| m["content"].as_array()).flatten();
            let last = blocks.rfind(|b| b["type"] == "tool_result")?;
            (&last["tool_use_id"], &last["content"])
        }
        Wire::Responses => {
            let items = request["input"].as_array()?;
            let last = items.iter().rev().find(|i| i["type"] == "function_call_output")?;
            (&last["call_id"], &last["output"])
        }
    };
    let text = match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => return None,
    };
    Some((id.as_str()?.to_string(), text))
}
