//! Strict validators of what a client receives: the chat stream's tool-call
//! accumulation and terminal rules, and the Anthropic block grammar. Each
//! returns what a client would have assembled, or the first rule broken.

use serde_json::Value;
use tollgate::protocol::sse::{SseDecoder, SseEvent};

/// Splits bytes into SSE events (the framer itself is tested on its own).
pub fn frames(bytes: &[u8]) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    decoder.feed(bytes, &mut out).expect("framed");
    decoder.finish(&mut out);
    out
}

/// One tool call as a client assembled it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// What a chat client assembled from a stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chat {
    pub text: String,
    pub reasoning: String,
    pub calls: Vec<Call>,
    pub finish: Option<String>,
    pub usage: Option<Value>,
    /// The in-band error object the stream ended with, if it failed.
    pub error: Option<Value>,
}

/// Checks a chat SSE stream: every chunk parses, a call's first fragment has
/// its id and name, its index stays and later ids agree, arguments
/// concatenate to a JSON object, one finish_reason, the usage chunk has no
/// choices, and the stream ends in `[DONE]` or (instead) an error object.
pub fn chat(bytes: &[u8]) -> Result<Chat, String> {
    let mut out = Chat::default();
    let events = frames(bytes);
    let mut ended = false;
    for (n, event) in events.iter().enumerate() {
        if ended {
            return Err(format!("event {n} after the end: {}", event.data));
        }
        if event.data == "[DONE]" {
            ended = true;
            continue;
        }
        let chunk: Value = serde_json::from_str(&event.data).map_err(|e| format!("event {n}: {e}"))?;
        if let Some(error) = chunk.get("error") {
            error["message"].as_str().ok_or("error without message")?;
            error["type"].as_str().ok_or("error without type")?;
            out.error = Some(error.clone());
            ended = true;
            continue;
        }
        if chunk["object"] != "chat.completion.chunk" {
            return Err(format!("event {n}: object is {}", chunk["object"]));
        }
        let choices = chunk["choices"].as_array().ok_or(format!("event {n}: no choices"))?;
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            if !choices.is_empty() {
                return Err(format!("event {n}: usage on a chunk with choices"));
            }
            if out.usage.replace(usage.clone()).is_some() {
                return Err("two usage chunks".into());
            }
        } else if choices.is_empty() {
            return Err(format!("event {n}: a chunk with neither choices nor usage"));
        }
        for choice in choices {
            if out.finish.is_some() {
                return Err(format!("event {n}: a choice after the finish_reason"));
            }
            let delta = &choice["delta"];
            if let Some(text) = delta.get("content").and_then(Value::as_str) {
                out.text.push_str(text);
            }
            if let Some(text) = delta.get("reasoning_content").and_then(Value::as_str) {
                out.reasoning.push_str(text);
            }
            for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                tool_fragment(&mut out.calls, call).map_err(|e| format!("event {n}: {e}"))?;
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                out.finish = Some(reason.to_owned());
            }
        }
    }
    if !ended {
        return Err("the stream ended with neither [DONE] nor an error".into());
    }
    if out.error.is_none() {
        if out.finish.is_none() {
            return Err("[DONE] without a finish_reason".into());
        }
        for call in &out.calls {
            let args: Value = serde_json::from_str(&call.arguments)
                .map_err(|e| format!("call {} arguments {:?}: {e}", call.id, call.arguments))?;
            if !args.is_object() {
                return Err(format!("call {} arguments are not an object", call.id));
            }
        }
        if !out.calls.is_empty() && out.finish.as_deref() != Some("tool_calls") {
            return Err(format!("calls made but finish_reason {:?}", out.finish));
        }
    }
    Ok(out)
}

fn tool_fragment(calls: &mut Vec<Call>, call: &Value) -> Result<(), String> {
    let index = call["index"].as_u64().ok_or("a tool call without index")? as usize;
    let function = &call["function"];
    if index == calls.len() {
        let id = call["id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or("first fragment without id")?;
        let name = function["name"].as_str().ok_or("first fragment without name")?;
        if call["type"] != "function" {
            return Err("first fragment without type function".into());
        }
        calls.push(Call {
            id: id.into(),
            name: name.into(),
            arguments: String::new(),
        });
    } else if index > calls.len() {
        return Err(format!("tool index {index} skips ahead of {}", calls.len()));
    }
    let entry = &mut calls[index];
    if let Some(id) = call.get("id").and_then(Value::as_str) {
        if id != entry.id {
            return Err(format!("call {index} changed id from {} to {id}", entry.id));
        }
    }
    if let Some(args) = function.get("arguments").and_then(Value::as_str) {
        entry.arguments.push_str(args);
    }
    Ok(())
}
