//! Anthropic's Messages API as Claude Code needs it streamed: `event:` and
//! `data:` lines, every block opened and closed, tool input only as
//! `input_json_delta` fragments.

use serde_json::{json, Value};

use super::{pieces, text_of, Turn};

pub fn tool_result(request: &Value) -> Option<(String, String)> {
    let messages = request["messages"].as_array()?;
    let mut blocks = messages
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_array())
        .flatten();
    let last = blocks.rfind(|b| b["type"] == "tool_result")?;
    Some((last["tool_use_id"].as_str()?.to_string(), text_of(&last["content"])?))
}

pub fn offers(request: &Value, tool: &str) -> bool {
    let tools = request["tools"].as_array().map(Vec::as_slice).unwrap_or_default();
    tools.iter().any(|t| t["name"] == tool)
}

pub fn stream(turn: &Turn, model: &str, n: usize) -> Vec<String> {
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": format!("msg_mock{n}"), "type": "message", "role": "assistant",
               "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
               "usage": {"input_tokens": 42, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}),
        json!({"type": "ping"}),
    ];
    let stop = match turn {
        Turn::Call(call, id) => {
            events.push(json!({"type": "content_block_start", "index": 0,
                               "content_block": {"type": "tool_use", "id": id, "name": call.name, "input": {}}}));
            let arguments = call.arguments.to_string();
            for piece in pieces(&arguments) {
                events.push(json!({"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "input_json_delta", "partial_json": piece}}));
            }
            "tool_use"
        }
        Turn::Text(text) => {
            events.push(
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            );
            for piece in pieces(text) {
                events.push(
                    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
                );
            }
            "end_turn"
        }
    };
    events.push(json!({"type": "content_block_stop", "index": 0}));
    events.push(
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
                       "usage": {"output_tokens": 12}}),
    );
    events.push(json!({"type": "message_stop"}));
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or_default()))
        .collect()
}

pub fn whole(turn: &Turn, model: &str, n: usize) -> Value {
    let (content, stop) = match turn {
        Turn::Call(call, id) => (
            json!([{"type": "tool_use", "id": id, "name": call.name, "input": call.arguments}]),
            "tool_use",
        ),
        Turn::Text(text) => (json!([{"type": "text", "text": text}]), "end_turn"),
    };
    json!({"id": format!("msg_mock{n}"), "type": "message", "role": "assistant", "model": model, "content": content,
           "stop_reason": stop, "stop_sequence": null,
           "usage": {"input_tokens": 42, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 12}})
}
