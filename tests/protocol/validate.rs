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
        let finish = out.finish.as_deref();
        if !out.calls.is_empty() && finish != Some("tool_calls") && finish != Some("length") {
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
/// One content block as an Anthropic client assembled it.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Thinking {
        text: String,
        signature: String,
    },
    Redacted {
        data: String,
    },
    Text(String),
    Tool {
        id: String,
        name: String,
        input: Value,
        raw: String,
    },
}

/// What an Anthropic client assembled from a stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Anthropic {
    pub model: String,
    pub blocks: Vec<Block>,
    pub stop_reason: Option<String>,
    /// The usage of `message_start`.
    pub start_usage: Value,
    /// The usage of the final `message_delta`.
    pub usage: Value,
    /// The `error` event the stream ended with, if it failed.
    pub error: Option<Value>,
    pub pings: usize,
}

/// Checks an Anthropic SSE stream against the block grammar: every event
/// named as its `data.type`; `message_start` first and once; blocks opened
/// at contiguous indices from 0, one at a time, each stopped; deltas of the
/// open block's type; tool input JSON an object; `message_delta` after the
/// last stop with full usage; `message_stop` last, or `error` last instead.
pub fn anthropic(bytes: &[u8]) -> Result<Anthropic, String> {
    let mut out = Anthropic::default();
    let mut open: Option<usize> = None;
    let mut seen_delta = false;
    let mut ended = false;
    for (n, event) in frames(bytes).iter().enumerate() {
        let data: Value = serde_json::from_str(&event.data).map_err(|e| format!("event {n}: {e}"))?;
        let kind = data["type"].as_str().ok_or(format!("event {n}: no type"))?;
        if event.event.as_deref() != Some(kind) {
            return Err(format!("event {n}: `event: {:?}` but type {kind}", event.event));
        }
        if ended {
            return Err(format!("event {n} ({kind}) after the end"));
        }
        if n == 0 && kind != "message_start" {
            return Err(format!("first event is {kind}"));
        }
        let index = data["index"].as_u64().map(|i| i as usize);
        match kind {
            "message_start" if n == 0 => {
                let message = &data["message"];
                out.model = message["model"].as_str().ok_or("no model")?.to_owned();
                if message["content"] != serde_json::json!([]) || message["role"] != "assistant" {
                    return Err("message_start not an empty assistant message".into());
                }
                out.start_usage = message["usage"].clone();
            }
            "message_start" => return Err(format!("a second message_start at {n}")),
            "ping" => out.pings += 1,
            "content_block_start" => {
                if seen_delta {
                    return Err("a block after message_delta".into());
                }
                if let Some(open) = open {
                    return Err(format!("block {open} still open at {n}"));
                }
                if index != Some(out.blocks.len()) {
                    return Err(format!("block index {index:?}, expected {}", out.blocks.len()));
                }
                let block = &data["content_block"];
                out.blocks.push(match block["type"].as_str() {
                    Some("text") if block["text"] == "" => Block::Text(String::new()),
                    Some("thinking") if block["thinking"] == "" => Block::Thinking {
                        text: String::new(),
                        signature: String::new(),
                    },
                    Some("redacted_thinking") => Block::Redacted {
                        data: block["data"].as_str().ok_or("no data")?.into(),
                    },
                    Some("tool_use") if block["input"] == serde_json::json!({}) => {
                        let id = block["id"].as_str().ok_or("tool without id")?;
                        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                            return Err(format!("tool id {id:?} is not ^[a-zA-Z0-9_-]+$"));
                        }
                        let name = block["name"].as_str().ok_or("tool without name")?;
                        Block::Tool {
                            id: id.into(),
                            name: name.into(),
                            input: Value::Null,
                            raw: String::new(),
                        }
                    }
                    _ => return Err(format!("bad content_block {block}")),
                });
                open = index;
            }
            "content_block_delta" => {
                if open.is_none() || open != index {
                    return Err(format!("delta for {index:?} while {open:?} is open"));
                }
                let delta = &data["delta"];
                let block = out.blocks.last_mut().ok_or("no block")?;
                match (block, delta["type"].as_str()) {
                    (Block::Text(text), Some("text_delta")) => {
                        let piece = delta["text"].as_str().ok_or("no text")?;
                        if piece.is_empty() {
                            return Err("empty text_delta".into());
                        }
                        text.push_str(piece)
                    }
                    (Block::Thinking { text, .. }, Some("thinking_delta")) => {
                        text.push_str(delta["thinking"].as_str().ok_or("no thinking")?)
                    }
                    (Block::Thinking { signature, .. }, Some("signature_delta")) => {
                        signature.push_str(delta["signature"].as_str().ok_or("no signature")?)
                    }
                    (Block::Tool { raw, .. }, Some("input_json_delta")) => {
                        let piece = delta["partial_json"].as_str().ok_or("no partial_json")?;
                        if piece.is_empty() {
                            return Err("empty partial_json".into());
                        }
                        raw.push_str(piece)
                    }
                    (block, kind) => return Err(format!("delta {kind:?} in block {block:?}")),
                }
            }
            "content_block_stop" => {
                if open.is_none() || open != index {
                    return Err(format!("stop for {index:?} while {open:?} is open"));
                }
                open = None;
                match out.blocks.last_mut() {
                    Some(Block::Tool { input, raw, .. }) => {
                        *input = if raw.is_empty() {
                            serde_json::json!({})
                        } else {
                            serde_json::from_str(raw).map_err(|e| format!("tool input {raw:?}: {e}"))?
                        };
                        if !input.is_object() {
                            return Err(format!("tool input {raw:?} is not an object"));
                        }
                    }
                    Some(Block::Text(text)) if text.trim().is_empty() => return Err("an empty text block".into()),
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(open) = open {
                    return Err(format!("message_delta with block {open} open"));
                }
                if seen_delta {
                    return Err("two message_delta events".into());
                }
                seen_delta = true;
                out.stop_reason = data["delta"]["stop_reason"].as_str().map(str::to_owned);
                out.usage = data["usage"].clone();
                for key in [
                    "input_tokens",
                    "cache_read_input_tokens",
                    "cache_creation_input_tokens",
                    "output_tokens",
                ] {
                    if !out.usage[key].is_u64() {
                        return Err(format!("message_delta usage lacks {key}: {}", out.usage));
                    }
                }
            }
            "message_stop" => {
                if !seen_delta {
                    return Err("message_stop without message_delta".into());
                }
                ended = true;
            }
            "error" => {
                let error = &data["error"];
                error["type"].as_str().ok_or("error without type")?;
                error["message"].as_str().ok_or("error without message")?;
                out.error = Some(error.clone());
                ended = true;
            }
            other => return Err(format!("unknown event {other}")),
        }
    }
    if !ended {
        return Err("the stream ended with neither message_stop nor error".into());
    }
    if out.error.is_none() {
        let tools = out.blocks.iter().any(|b| matches!(b, Block::Tool { .. }));
        if tools && out.stop_reason.as_deref() != Some("tool_use") && out.stop_reason.as_deref() != Some("max_tokens") {
            return Err(format!("tool_use blocks but stop_reason {:?}", out.stop_reason));
        }
    }
    Ok(out)
}
