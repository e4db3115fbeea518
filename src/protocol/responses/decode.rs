//! A Responses upstream's answer → hub events: its SSE events one at a time,
//! or a whole non-streamed response object.

use serde_json::{Map, Value};

use super::error_kind;
use crate::protocol::events::{ErrorKind, Event, FinishReason, StreamError, Usage};
use crate::protocol::sse::{SseDecoder, SseEvent};

/// A call the upstream opened, by its item id.
struct Call {
    item_id: String,
    index: usize,
    custom: bool,
    /// Argument fragments were already passed on: a later `.done` (or the
    /// item in `output_item.done`) must not repeat them.
    got_args: bool,
    /// A custom call's input so far (sent wrapped when the item is done).
    input: String,
}

/// Per-response state of decoding one Responses stream.
#[derive(Default)]
pub struct Decoder {
    sse: SseDecoder,
    frames: Vec<SseEvent>,
    started: bool,
    calls: Vec<Call>,
    /// Item ids whose text or reasoning came as deltas: their `done` items
    /// must not repeat it.
    streamed: Vec<String>,
    ended: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Decodes the next bytes of the upstream's stream.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        if let Err(err) = self.sse.feed(chunk, &mut self.frames) {
            out.push(Event::Error(StreamError::new(ErrorKind::Api, err.to_string())));
            self.ended = true;
            return;
        }
        self.drain(out);
    }

    /// The upstream's bytes ended: a stream without its terminal event was
    /// cut short.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        self.sse.finish(&mut self.frames);
        self.drain(out);
        if !self.ended {
            self.ended = true;
            out.push(Event::Error(StreamError::cut_short()));
        }
    }

    fn drain(&mut self, out: &mut Vec<Event>) {
        let frames = std::mem::take(&mut self.frames);
        for frame in &frames {
            self.event(frame.data.as_bytes(), out);
        }
        self.frames = frames;
        self.frames.clear();
    }

    /// Decodes one SSE event's `data` (the JSON's `type` decides, as Codex
    /// does; the `event:` line is not needed).
    pub fn event(&mut self, data: &[u8], out: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        let Ok(Value::Object(event)) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let kind = event.get("type").and_then(Value::as_str).unwrap_or_default();
        let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        match kind {
            "response.created" | "response.in_progress" => self.start(event.get("response"), out),
            "response.output_text.delta" | "response.refusal.delta" => {
                self.start(None, out);
                self.mark_streamed(text("item_id"));
                push_text(out, text("delta"));
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                self.start(None, out);
                self.mark_streamed(text("item_id"));
                let delta = text("delta");
                if !delta.is_empty() {
                    out.push(Event::Reasoning { text: delta });
                }
            }
            "response.output_item.added" => {
                if let Some(item) = event.get("item").and_then(Value::as_object) {
                    self.start(None, out);
                    self.open_call(item, out);
                }
            }
            "response.function_call_arguments.delta" => self.args(&text("item_id"), text("delta"), false, out),
            "response.function_call_arguments.done" => self.args(&text("item_id"), text("arguments"), true, out),
            "response.custom_tool_call_input.delta" => {
                if let Some(call) = self.calls.iter_mut().find(|c| c.item_id == text("item_id")) {
                    call.input.push_str(&text("delta"));
                }
            }
            "response.output_item.done" => {
                if let Some(item) = event.get("item").and_then(Value::as_object) {
                    self.start(None, out);
                    self.item_done(item, out);
                }
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                self.start(None, out);
                if let Some(response) = event.get("response").and_then(Value::as_object) {
                    self.terminal(response, out);
                }
            }
            "error" => {
                self.start(None, out);
                let code = event.get("code").and_then(Value::as_str).unwrap_or("upstream_error");
                let message = text("message");
                out.push(Event::Error(StreamError {
                    kind: error_kind(code),
                    message,
                }));
                self.ended = true;
            }
            _ => {}
        }
    }

    /// Remembers (once) that this item's text came as deltas.
    fn mark_streamed(&mut self, item_id: String) {
        if !self.streamed.contains(&item_id) {
            self.streamed.push(item_id);
        }
    }

    fn start(&mut self, response: Option<&Value>, out: &mut Vec<Event>) {
        if !self.started {
            self.started = true;
            let id = response
                .and_then(|r| r.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            out.push(Event::Start { id });
        }
    }

    /// `output_item.added` of a call opens it (its arguments follow).
    fn open_call(&mut self, item: &Map<String, Value>, out: &mut Vec<Event>) {
        let custom = match item.get("type").and_then(Value::as_str) {
            Some("function_call") => false,
            Some("custom_tool_call") => true,
            _ => return,
        };
        let item_id = str_of(item, "id");
        if self.calls.iter().any(|c| c.item_id == item_id && !item_id.is_empty()) {
            return;
        }
        let index = self.calls.len();
        out.push(Event::ToolStart {
            index,
            id: str_of(item, "call_id"),
            name: str_of(item, "name"),
        });
        self.calls.push(Call {
            item_id,
            index,
            custom,
            got_args: false,
            input: String::new(),
        });
    }

    /// Argument fragments, or the whole arguments at `.done`, adopted only
    /// when no fragment came before (some upstreams send only `.done`).
    fn args(&mut self, item_id: &str, text: String, done: bool, out: &mut Vec<Event>) {
        let Some(call) = self.calls.iter_mut().find(|c| c.item_id == item_id) else {
            return;
        };
        if (done && call.got_args) || text.is_empty() {
            return;
        }
        call.got_args = true;
        out.push(Event::ToolArgs {
            index: call.index,
            fragment: text,
        });
    }

    fn item_done(&mut self, item: &Map<String, Value>, out: &mut Vec<Event>) {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
        let item_id = str_of(item, "id");
        match kind {
            "function_call" | "custom_tool_call" => {
                if !self.calls.iter().any(|c| c.item_id == item_id) || item_id.is_empty() {
                    self.open_call(item, out);
                }
                let Some(call) = self.calls.iter_mut().rev().find(|c| c.item_id == item_id) else {
                    return;
                };
                if call.got_args {
                    return;
                }
                call.got_args = true;
                let fragment = if call.custom {
                    let input = if call.input.is_empty() {
                        str_of(item, "input")
                    } else {
                        std::mem::take(&mut call.input)
                    };
                    serde_json::json!({ "input": input }).to_string()
                } else {
                    str_of(item, "arguments")
                };
                out.push(Event::ToolArgs {
                    index: call.index,
                    fragment,
                });
            }
            "message" | "reasoning" if !self.streamed.contains(&item_id) => item_content(item, out),
            _ => {}
        }
    }

    fn terminal(&mut self, response: &Map<String, Value>, out: &mut Vec<Event>) {
        self.ended = true;
        let status = response.get("status").and_then(Value::as_str).unwrap_or("completed");
        if status == "failed" {
            let error = response.get("error");
            let code = error
                .and_then(|e| e.get("code"))
                .and_then(Value::as_str)
                .unwrap_or("upstream_error");
            let message = error
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("the upstream failed");
            out.push(Event::Error(StreamError {
                kind: error_kind(code),
                message: message.to_owned(),
            }));
            return;
        }
        if let Some(usage) = response.get("usage").and_then(usage) {
            out.push(Event::Usage(usage));
        }
        let reason = match (status, response.get("incomplete_details").and_then(|d| d.get("reason"))) {
            ("incomplete", Some(Value::String(r))) if r == "content_filter" => FinishReason::ContentFilter,
            ("incomplete", _) => FinishReason::Length,
            _ if !self.calls.is_empty() => FinishReason::ToolCalls,
            _ => FinishReason::Stop,
        };
        out.push(Event::Finish { reason });
        out.push(Event::Done);
    }
}

/// A whole non-streamed Responses object → the events a stream of it would
/// have given.
pub fn decode_answer(body: &[u8]) -> Vec<Event> {
    let mut out = Vec::new();
    let Ok(Value::Object(response)) = serde_json::from_slice::<Value>(body) else {
        let message = "the upstream's answer is not a Responses object".to_owned();
        out.push(Event::Error(StreamError {
            kind: crate::protocol::events::ErrorKind::Api,
            message,
        }));
        return out;
    };
    let mut decoder = Decoder::new();
    decoder.start(Some(&Value::Object(response.clone())), &mut out);
    for item in response
        .get("output")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(item) = item.as_object() {
            decoder.item_done(item, &mut out);
        }
    }
    decoder.terminal(&response, &mut out);
    out
}

/// The text of a message or reasoning item that came without deltas.
fn item_content(item: &Map<String, Value>, out: &mut Vec<Event>) {
    let reasoning = item.get("type").and_then(Value::as_str) == Some("reasoning");
    let keys: &[&str] = if reasoning {
        &["summary", "content"]
    } else {
        &["content"]
    };
    for key in keys {
        for part in item
            .get(*key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let text = part
                .get("text")
                .or_else(|| part.get("refusal"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if text.is_empty() {
                continue;
            }
            if reasoning {
                out.push(Event::Reasoning { text: text.to_owned() });
            } else {
                out.push(Event::Text { text: text.to_owned() });
            }
        }
        // Summary and full reasoning say the same thing: one is enough.
        if reasoning && item.get(*key).and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
            break;
        }
    }
}

fn push_text(out: &mut Vec<Event>, text: String) {
    if !text.is_empty() {
        out.push(Event::Text { text });
    }
}

fn usage(value: &Value) -> Option<Usage> {
    let n = |path: &[&str]| {
        let mut v = value;
        for key in path {
            v = v.get(*key)?;
        }
        v.as_u64()
    };
    Some(Usage {
        input: n(&["input_tokens"])?,
        cache_read: n(&["input_tokens_details", "cached_tokens"]).unwrap_or(0),
        cache_write: 0,
        output: n(&["output_tokens"]).unwrap_or(0),
        reasoning: n(&["output_tokens_details", "reasoning_tokens"]).unwrap_or(0),
    })
}

fn str_of(item: &Map<String, Value>, key: &str) -> String {
    item.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}
