//! OpenAI's Responses API as Codex needs it streamed: each item added, its
//! deltas, done with the complete item, then `response.completed`.

use serde_json::{json, Value};

use super::{pieces, text_of, Turn};

pub fn tool_result(request: &Value) -> Option<(String, String)> {
    let items = request["input"].as_array()?;
    let last = items.iter().rev().find(|i| i["type"] == "function_call_output")?;
    Some((last["call_id"].as_str()?.to_string(), text_of(&last["output"])?))
}

pub fn offers(request: &Value, tool: &str) -> bool {
    let tools = request["tools"].as_array().map(Vec::as_slice).unwrap_or_default();
    tools.iter().any(|t| t["type"] == "function" && t["name"] == tool)
}

pub fn stream(turn: &Turn, model: &str, n: usize) -> Vec<String> {
    let item = done_item(turn, n);
    let item_id = item["id"].clone();
    let mut events = vec![
        json!({"type": "response.created", "response": response(model, n, "in_progress", json!([]))}),
        json!({"type": "response.in_progress", "response": response(model, n, "in_progress", json!([]))}),
    ];
    match turn {
        Turn::Call(call, _) => {
            let mut added = item.clone();
            added["arguments"] = json!("");
            added["status"] = json!("in_progress");
            events.push(json!({"type": "response.output_item.added", "output_index": 0, "item": added}));
            let arguments = call.arguments.to_string();
            for piece in pieces(&arguments) {
                events.push(
                    json!({"type": "response.function_call_arguments.delta", "item_id": item_id,
                                   "output_index": 0, "delta": piece}),
                );
            }
            events.push(
                json!({"type": "response.function_call_arguments.done", "item_id": item_id,
                               "output_index": 0, "arguments": arguments}),
            );
        }
        Turn::Text(text) => {
            events.push(json!({"type": "response.output_item.added", "output_index": 0,
                               "item": {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress", "content": []}}));
            let part = |text: &str| json!({"type": "output_text", "text": text, "annotations": []});
            let at = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
            events.push(merge(
                &at,
                json!({"type": "response.content_part.added", "part": part("")}),
            ));
            for piece in pieces(text) {
                events.push(merge(
                    &at,
                    json!({"type": "response.output_text.delta", "delta": piece}),
                ));
            }
            events.push(merge(&at, json!({"type": "response.output_text.done", "text": text})));
            events.push(merge(
                &at,
                json!({"type": "response.content_part.done", "part": part(text)}),
            ));
        }
    }
    events.push(json!({"type": "response.output_item.done", "output_index": 0, "item": item}));
    events.push(json!({"type": "response.completed", "response": whole(turn, model, n)}));
    events
        .iter_mut()
        .enumerate()
        .map(|(i, e)| {
            e["sequence_number"] = json!(i);
            format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or_default())
        })
        .collect()
}

pub fn whole(turn: &Turn, model: &str, n: usize) -> Value {
    let mut finished = response(model, n, "completed", json!([done_item(turn, n)]));
    finished["usage"] = json!({"input_tokens": 42, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 12,
                               "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 54});
    finished
}

/// The output item as `response.output_item.done` carries it: complete.
fn done_item(turn: &Turn, n: usize) -> Value {
    match turn {
        Turn::Call(call, id) => json!({"type": "function_call", "id": format!("fc_mock{n}"), "call_id": id,
                                       "name": call.name, "arguments": call.arguments.to_string(), "status": "completed"}),
        Turn::Text(text) => {
            json!({"type": "message", "id": format!("msg_mock{n}"), "role": "assistant", "status": "completed",
                                   "content": [{"type": "output_text", "text": text, "annotations": []}]})
        }
    }
}

fn response(model: &str, n: usize, status: &str, output: Value) -> Value {
    json!({"id": format!("resp_mock{n}"), "object": "response", "created_at": 1, "status": status, "model": model,
           "output": output, "usage": null})
}

fn merge(base: &Value, extra: Value) -> Value {
    let mut merged = base.clone();
    if let (Some(to), Value::Object(from)) = (merged.as_object_mut(), extra) {
        to.extend(from);
    }
    merged
}
