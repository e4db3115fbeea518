//! Hub events as an Anthropic Messages answer: SSE events in the exact
//! grammar Claude Code and the SDKs need (translation.md §1.7), or one JSON
//! body.

use serde_json::{json, Value};

use crate::protocol::answer::{effective_finish, Answer};
use crate::protocol::events::{Event, FinishReason, StreamError, Usage};
use crate::protocol::ids::client_tool_id;

/// Anthropic's `stop_reason` for the hub's.
pub fn stop_reason_name(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "end_turn",
        FinishReason::StopSequence => "stop_sequence",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
    }
}

/// Anthropic's full usage object: input without the cache, both cache
/// counts, output. `estimate` stands in for an input the upstream never gave.
pub fn usage_json(usage: &Usage, estimate: u64) -> Value {
    let input = if usage.input > 0 {
        usage.uncached_input()
    } else {
        estimate
    };
    json!({
        "input_tokens": input,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
        "output_tokens": usage.output,
    })
}

/// [`usage_json`] written in Anthropic's key order.
fn push_usage(out: &mut Vec<u8>, usage: &Usage, estimate: u64) {
    let input = if usage.input > 0 {
        usage.uncached_input()
    } else {
        estimate
    };
    let fields = [
        ("{\"input_tokens\":", input),
        (",\"cache_creation_input_tokens\":", usage.cache_write),
        (",\"cache_read_input_tokens\":", usage.cache_read),
        (",\"output_tokens\":", usage.output),
    ];
    for (key, value) in fields {
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(value.to_string().as_bytes());
    }
    out.push(b'}');
}

fn push_json_str(out: &mut Vec<u8>, text: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// The block open now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Thinking,
    Text,
    /// A tool block streaming live: its slot in `tools`.
    Tool(usize),
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// Waiting for its turn to be written; its arguments are held.
    Held,
    /// Its block is open and its arguments stream.
    Live,
    Closed,
}

struct Call {
    index: usize,
    id: String,
    name: String,
    arguments: String,
    state: CallState,
}

/// Writes an Anthropic SSE stream from hub events.
pub struct Encoder {
    model: String,
    nonce: String,
    estimate: u64,
    started: bool,
    open: Option<Open>,
    next_block: usize,
    /// Whitespace that came before any text block: written only once real
    /// text follows, so no block is blank (R24).
    pending_space: String,
    calls: Vec<Call>,
    finish: Option<FinishReason>,
    usage: Usage,
    ended: bool,
}

impl Encoder {
    /// An encoder answering as `model`; `nonce` makes its message id and
    /// tool ids unique; `estimate` is the input stated before the upstream's.
    pub fn new(model: &str, nonce: &str, estimate: u64) -> Self {
        Encoder {
            model: model.to_owned(),
            nonce: nonce.to_owned(),
            estimate,
            started: false,
            open: None,
            next_block: 0,
            pending_space: String::new(),
            calls: Vec::new(),
            finish: None,
            usage: Usage::default(),
            ended: false,
        }
    }

    /// The usage reported so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The stream is over (done or failed).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Writes `message_start`, once: as soon as the upstream answered, not
    /// at its first chunk (rule 1).
    pub fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        // Written by hand so `type` leads, as in Anthropic's own streams.
        let mut data = Vec::with_capacity(320);
        data.extend_from_slice(b"{\"type\":\"message_start\",\"message\":{\"id\":");
        push_json_str(&mut data, &format!("msg_{}", self.nonce));
        data.extend_from_slice(b",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
        push_json_str(&mut data, &self.model);
        data.extend_from_slice(b",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
        push_usage(&mut data, &Usage::default(), self.estimate);
        data.extend_from_slice(b"}}");
        write(out, "message_start", &data);
    }

    /// Writes what one event means for the client.
    pub fn event(&mut self, event: Event, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.start(out);
        match event {
            Event::Start { .. } => {}
            Event::Reasoning { text } if text.is_empty() => {}
            Event::Reasoning { text } => {
                self.open_as(Open::Thinking, out);
                self.delta(out, b"thinking_delta\",\"thinking\":", &text);
            }
            Event::ReasoningSignature { signature } => {
                if self.open == Some(Open::Thinking) {
                    self.delta(out, b"signature_delta\",\"signature\":", &signature);
                }
            }
            Event::RedactedReasoning { data } => {
                self.close(out);
                let mut block = b"{\"type\":\"redacted_thinking\",\"data\":".to_vec();
                push_json_str(&mut block, &data);
                block.push(b'}');
                self.block_start(out, &block);
                self.close_block(out);
            }
            Event::Text { text } => self.text(text, out),
            Event::ToolStart { index, id, name } => self.tool_start(index, &id, name, out),
            Event::ToolArgs { index, fragment } => self.tool_args(index, &fragment, out),
            Event::Finish { reason } => self.finish = Some(reason),
            Event::Usage(usage) => self.usage.merge(&usage),
            Event::Error(error) => self.fail(&error, out),
            Event::Done => self.done(out),
        }
    }

    /// A `ping`, for a client whose idle watchdog would otherwise fire
    /// during a long silence (rule 10).
    pub fn keepalive(&mut self, out: &mut Vec<u8>) {
        if !self.ended {
            self.start(out);
            write(out, "ping", b"{\"type\":\"ping\"}");
        }
    }

    /// Ends the stream with an `error` event, never `message_stop` (rule 8).
    pub fn fail(&mut self, error: &StreamError, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.start(out);
        self.ended = true;
        let mut data = b"{\"type\":\"error\",\"error\":{\"type\":\"".to_vec();
        data.extend_from_slice(error.kind.anthropic_type().as_bytes());
        data.extend_from_slice(b"\",\"message\":");
        push_json_str(&mut data, &error.message);
        data.extend_from_slice(b"}}");
        write(out, "error", &data);
    }

    fn text(&mut self, text: String, out: &mut Vec<u8>) {
        if self.open != Some(Open::Text) && text.trim().is_empty() {
            self.pending_space.push_str(&text);
            return;
        }
        self.open_as(Open::Text, out);
        let text = if self.pending_space.is_empty() {
            text
        } else {
            std::mem::take(&mut self.pending_space) + &text
        };
        self.delta(out, b"text_delta\",\"text\":", &text);
    }

    fn tool_start(&mut self, index: usize, id: &str, name: String, out: &mut Vec<u8>) {
        let id = client_tool_id(id, &self.nonce, index);
        self.calls.push(Call {
            index,
            id,
            name,
            arguments: String::new(),
            state: CallState::Held,
        });
        let slot = self.calls.len() - 1;
        // Only one block streams at a time: a new call goes live only when
        // the live one is complete (its arguments already whole JSON) and
        // none is waiting before it; otherwise it is held (rule 5).
        let live_done = match self.open {
            Some(Open::Tool(live)) => self
                .calls
                .get(live)
                .is_some_and(|c| serde_json::from_str::<serde::de::IgnoredAny>(&c.arguments).is_ok()),
            _ => true,
        };
        let waiting = self.calls.iter().take(slot).any(|c| c.state == CallState::Held);
        if live_done && !waiting {
            self.close(out);
            self.open_tool(slot, out);
        }
    }

    fn tool_args(&mut self, index: usize, fragment: &str, out: &mut Vec<u8>) {
        if fragment.is_empty() {
            return;
        }
        let Some(slot) = self.calls.iter().position(|c| c.index == index) else {
            return;
        };
        let Some(call) = self.calls.get_mut(slot) else { return };
        match call.state {
            CallState::Held => call.arguments.push_str(fragment),
            CallState::Live => {
                call.arguments.push_str(fragment);
                self.delta(out, b"input_json_delta\",\"partial_json\":", fragment);
            }
            // Its block is stopped; a delta now would break the grammar.
            CallState::Closed => {}
        }
    }

    fn open_tool(&mut self, slot: usize, out: &mut Vec<u8>) {
        self.pending_space.clear();
        let Some(call) = self.calls.get_mut(slot) else { return };
        call.state = CallState::Live;
        let mut block = b"{\"type\":\"tool_use\",\"id\":".to_vec();
        push_json_str(&mut block, &call.id);
        block.extend_from_slice(b",\"name\":");
        push_json_str(&mut block, &call.name);
        block.extend_from_slice(b",\"input\":{}}");
        let held = std::mem::take(&mut call.arguments);
        self.block_start(out, &block);
        self.open = Some(Open::Tool(slot));
        if !held.is_empty() {
            self.delta(out, b"input_json_delta\",\"partial_json\":", &held);
        }
        if let Some(call) = self.calls.get_mut(slot) {
            call.arguments = held;
        }
    }

    fn done(&mut self, out: &mut Vec<u8>) {
        self.close(out);
        for slot in 0..self.calls.len() {
            if self.calls.get(slot).is_some_and(|c| c.state == CallState::Held) {
                self.open_tool(slot, out);
                self.close(out);
            }
        }
        let reason = effective_finish(self.finish, !self.calls.is_empty());
        let mut data = b"{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"".to_vec();
        data.extend_from_slice(stop_reason_name(reason).as_bytes());
        data.extend_from_slice(b"\",\"stop_sequence\":null},\"usage\":");
        push_usage(&mut data, &self.usage, self.estimate);
        data.push(b'}');
        write(out, "message_delta", &data);
        write(out, "message_stop", b"{\"type\":\"message_stop\"}");
        self.ended = true;
    }

    /// Makes `kind` the open block, closing any other first (rule 2).
    fn open_as(&mut self, kind: Open, out: &mut Vec<u8>) {
        if self.open == Some(kind) {
            return;
        }
        self.close(out);
        if kind != Open::Text {
            // Whitespace before a non-text block would make a blank one.
            self.pending_space.clear();
        }
        let block: &[u8] = match kind {
            Open::Thinking => b"{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}",
            _ => b"{\"type\":\"text\",\"text\":\"\"}",
        };
        self.block_start(out, block);
        self.open = Some(kind);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(open) = self.open else { return };
        if let Open::Tool(slot) = open {
            if let Some(call) = self.calls.get_mut(slot) {
                call.state = CallState::Closed;
            }
        }
        self.close_block(out);
    }

    fn block_start(&mut self, out: &mut Vec<u8>, block: &[u8]) {
        out.extend_from_slice(b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":");
        out.extend_from_slice(self.next_block.to_string().as_bytes());
        out.extend_from_slice(b",\"content_block\":");
        out.extend_from_slice(block);
        out.extend_from_slice(b"}\n\n");
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":");
        out.extend_from_slice(self.next_block.to_string().as_bytes());
        out.extend_from_slice(b"}\n\n");
        self.next_block += 1;
        self.open = None;
    }

    /// A `content_block_delta` of the open block; `kind` is the delta's type
    /// and its field's name, as JSON text.
    fn delta(&mut self, out: &mut Vec<u8>, kind: &[u8], value: &str) {
        out.extend_from_slice(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":");
        out.extend_from_slice(self.next_block.to_string().as_bytes());
        out.extend_from_slice(b",\"delta\":{\"type\":\"");
        out.extend_from_slice(kind);
        push_json_str(out, value);
        out.extend_from_slice(b"}}\n\n");
    }
}

fn write(out: &mut Vec<u8>, event: &str, data: &[u8]) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
}

/// A whole Messages answer for an answer gathered from events.
pub fn answer_json(answer: &Answer, model: &str, nonce: &str, estimate: u64) -> Value {
    let mut content = Vec::new();
    for block in &answer.reasoning {
        match &block.redacted {
            Some(data) => content.push(json!({"type": "redacted_thinking", "data": data})),
            None if block.text.is_empty() => {}
            None => content.push(json!({"type": "thinking", "thinking": block.text,
                                        "signature": block.signature.clone().unwrap_or_default()})),
        }
    }
    if !answer.text.trim().is_empty() {
        content.push(json!({"type": "text", "text": answer.text}));
    }
    for (index, call) in answer.calls.iter().enumerate() {
        let input = serde_json::from_str::<Value>(&call.arguments)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        content.push(json!({"type": "tool_use", "id": client_tool_id(&call.id, nonce, index),
                            "name": call.name, "input": input}));
    }
    json!({
        "id": format!("msg_{nonce}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason_name(answer.finish_reason()),
        "stop_sequence": null,
        "usage": usage_json(&answer.usage, estimate),
    })
}
