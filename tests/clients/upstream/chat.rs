//! OpenAI chat completions as a chat-only provider answers them: `data:`
//! chunks, tool arguments in fragments after the name, usage when asked, `[DONE]`.

use serde_json::{json, Value};

use super::{pieces, text_of, Turn};

pub fn tool_result(request: &Value) -> Option<(String, String)> {
    let messages = request["messages"].as_array()?;
    let last = messages.iter().rev().find(|m| m["role"] == "tool")?;
    Some((last["tool_call_id"].as_str()?.to_string(), text_of(&last["content"])?))
}

pub fn offers(request: &Value, tool: &str) -> bool {
    let tools = request["tools"].as_array().map(Vec::as_slice).unwrap_or_default();
    tools.iter().any(|t| t["function"]["name"] == tool)
}

pub fn stream(request: &Value, turn: &Turn, model: &str, n: usize) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": format!("chatcmpl-mock{n}"), "object": "chat.completion.chunk", "created": 1, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut chunks = Vec::new();
    let finish = match turn {
        Turn::Call(call, id) => {
            let arguments = call.arguments.to_string();
            chunks.push(chunk(
                json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": id,
                       "type": "function", "function": {"name": call.name, "arguments": ""}}]}),
                Value::Null,
            ));
            for piece in pieces(&arguments) {
                chunks.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    Value::Null,
                ));
            }
            "tool_calls"
        }
        Turn::Text(text) => {
            chunks.push(chunk(json!({"role": "assistant", "content": ""}), Value::Null));
            for piece in pieces(text) {
                chunks.push(chunk(json!({"content": piece}), Value::Null));
            }
            "stop"
        }
    };
    chunks.push(chunk(json!({}), json!(finish)));
    if request["stream_options"]["include_usage"] == Value::Bool(true) {
        chunks.push(
            json!({"id": format!("chatcmpl-mock{n}"), "object": "chat.completion.chunk", "created": 1,
                           "model": model, "choices": [], "usage": usage()}),
        );
    }
    let mut frames: Vec<String> = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    frames.push("data: [DONE]\n\n".to_string());
    frames
}

pub fn whole(turn: &Turn, model: &str, n: usize) -> Value {
    let (message, finish) = match turn {
        Turn::Call(call, id) => (
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function",
                   "function": {"name": call.name, "arguments": call.arguments.to_string()}}]}),
            "tool_calls",
        ),
        Turn::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
    };
    json!({"id": format!("chatcmpl-mock{n}"), "object": "chat.completion", "created": 1, "model": model,
           "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage()})
}

fn usage() -> Value {
    json!({"prompt_tokens": 42, "completion_tokens": 12, "total_tokens": 54})
}
