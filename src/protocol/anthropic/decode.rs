//! An Anthropic Messages answer (SSE events or one JSON body) as hub events.

use serde::Deserialize;
use serde_json::Value;

use crate::protocol::errors::read_error;
use crate::protocol::events::{ErrorKind, Event, FinishReason, StreamError, Usage};
use crate::protocol::sse::{SseDecoder, SseEvent};

/// The hub's reason for an Anthropic `stop_reason`.
pub fn stop_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "stop_sequence" => FinishReason::StopSequence,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Anthropic's usage fields as they stand so far (each event may carry
/// some of them; the latest value of each wins).
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    input: u64,
    cache_read: u64,
    cache_creation: u64,
    output: u64,
}

impl Counts {
    fn update(&mut self, usage: &Value) {
        let set = |field: &mut u64, key: &str| {
            if let Some(n) = usage.get(key).and_then(Value::as_u64) {
                *field = n;
            }
        };
        set(&mut self.input, "input_tokens");
        set(&mut self.cache_read, "cache_read_input_tokens");
        set(&mut self.cache_creation, "cache_creation_input_tokens");
        set(&mut self.output, "output_tokens");
    }

    fn to_hub(self) -> Usage {
        Usage {
            input: self.input + self.cache_read + self.cache_creation,
            cache_read: self.cache_read,
            cache_write: self.cache_creation,
            output: self.output,
            reasoning: 0,
        }
    }
}

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    content_block: Option<Value>,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    partial_json: Option<String>,
    #[serde(default)]
    stop_reason: Option<String>,
}

/// Turns an Anthropic SSE stream into events as its bytes arrive.
pub struct Decoder {
    sse: SseDecoder,
    frames: Vec<SseEvent>,
    counts: Counts,
    /// Tool blocks seen so far; the open block's tool index when it is one.
    tools: usize,
    open_tool: Option<usize>,
    finished: bool,
    ended: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            sse: SseDecoder::new(),
            frames: Vec::new(),
            counts: Counts::default(),
            tools: 0,
            open_tool: None,
            finished: false,
            ended: false,
        }
    }

    /// Decodes the next bytes of the stream.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        if let Err(err) = self.sse.feed(chunk, &mut self.frames) {
            self.fail(StreamError::new(ErrorKind::Api, err.to_string()), out);
            return;
        }
        self.drain(out);
    }

    /// The stream's bytes ended: without `message_stop` that is a failure,
    /// unless the stop reason had already come.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        self.sse.finish(&mut self.frames);
        self.drain(out);
        if !self.ended {
            if self.finished {
                self.ended = true;
                out.push(Event::Done);
            } else {
                self.fail(StreamError::cut_short(), out);
            }
        }
    }

    fn drain(&mut self, out: &mut Vec<Event>) {
        let frames = std::mem::take(&mut self.frames);
        for frame in &frames {
            if self.ended {
                break;
            }
            match serde_json::from_str::<Frame>(&frame.data) {
                Ok(parsed) => self.frame(parsed, out),
                Err(_) if frame.event.as_deref() == Some("error") => {
                    let (error, _) = read_error(500, frame.data.as_bytes());
                    self.fail(error, out);
                }
                Err(_) => {}
            }
        }
        self.frames = frames;
        self.frames.clear();
    }

    fn frame(&mut self, frame: Frame, out: &mut Vec<Event>) {
        match frame.kind.as_str() {
            "message_start" => {
                let message = frame.message.unwrap_or(Value::Null);
                let id = message.get("id").and_then(Value::as_str).map(str::to_owned);
                out.push(Event::Start { id });
                if let Some(usage) = message.get("usage") {
                    self.counts.update(usage);
                    out.push(Event::Usage(self.counts.to_hub()));
                }
            }
            "content_block_start" => {
                let block = frame.content_block.unwrap_or(Value::Null);
                self.block_start(&block, out);
            }
            "content_block_delta" => {
                if let Some(delta) = frame.delta {
                    self.delta(delta, out);
                }
            }
            "content_block_stop" => self.open_tool = None,
            "message_delta" => {
                if let Some(reason) = frame.delta.and_then(|d| d.stop_reason) {
                    self.finished = true;
                    out.push(Event::Finish {
                        reason: stop_reason(&reason),
                    });
                }
                if let Some(usage) = frame.usage {
                    self.counts.update(&usage);
                    out.push(Event::Usage(self.counts.to_hub()));
                }
            }
            "message_stop" => {
                if !self.finished {
                    self.finished = true;
                    out.push(Event::Finish {
                        reason: FinishReason::Stop,
                    });
                }
                self.ended = true;
                out.push(Event::Done);
            }
            "error" => {
                let body = serde_json::json!({ "error": frame.error }).to_string();
                let (error, _) = read_error(500, body.as_bytes());
                self.fail(error, out);
            }
            // `ping` and event types added later say nothing the hub carries.
            _ => {}
        }
    }

    fn block_start(&mut self, block: &Value, out: &mut Vec<Event>) {
        let text = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or_default();
        match text("type") {
            "text" if !text("text").is_empty() => out.push(Event::Text {
                text: text("text").into(),
            }),
            "thinking" if !text("thinking").is_empty() => out.push(Event::Reasoning {
                text: text("thinking").into(),
            }),
            "redacted_thinking" => out.push(Event::RedactedReasoning {
                data: text("data").into(),
            }),
            "tool_use" | "server_tool_use" => {
                let index = self.tools;
                self.tools += 1;
                self.open_tool = Some(index);
                out.push(Event::ToolStart {
                    index,
                    id: text("id").into(),
                    name: text("name").into(),
                });
                // A whole block (a replayed or fake stream) carries its input here.
                if let Some(input) = block
                    .get("input")
                    .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                {
                    out.push(Event::ToolArgs {
                        index,
                        fragment: input.to_string(),
                    });
                }
            }
            _ => {}
        }
    }

    fn delta(&mut self, delta: Delta, out: &mut Vec<Event>) {
        match delta.kind.as_deref() {
            Some("text_delta") => {
                if let Some(text) = delta.text.filter(|t| !t.is_empty()) {
                    out.push(Event::Text { text });
                }
            }
            Some("thinking_delta") => {
                if let Some(text) = delta.thinking.filter(|t| !t.is_empty()) {
                    out.push(Event::Reasoning { text });
                }
            }
            Some("signature_delta") => {
                if let Some(signature) = delta.signature.filter(|s| !s.is_empty()) {
                    out.push(Event::ReasoningSignature { signature });
                }
            }
            Some("input_json_delta") => {
                if let (Some(index), Some(fragment)) = (self.open_tool, delta.partial_json.filter(|p| !p.is_empty())) {
                    out.push(Event::ToolArgs { index, fragment });
                }
            }
            _ => {}
        }
    }

    fn fail(&mut self, error: StreamError, out: &mut Vec<Event>) {
        self.ended = true;
        out.push(Event::Error(error));
    }
}

/// A whole (non-streamed) Messages answer as the same events a stream of it
/// would give.
pub fn decode_answer(body: &[u8]) -> Vec<Event> {
    let mut out = Vec::new();
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(err) => {
            let message = format!("The upstream's answer was not an Anthropic message: {err}.");
            out.push(Event::Error(StreamError::new(ErrorKind::Api, message)));
            return out;
        }
    };
    if value.get("type").and_then(Value::as_str) == Some("error") {
        let (error, _) = read_error(500, body);
        out.push(Event::Error(error));
        return out;
    }
    let mut decoder = Decoder::new();
    decoder.frame(
        Frame {
            kind: "message_start".into(),
            message: Some(value.clone()),
            content_block: None,
            delta: None,
            usage: None,
            error: None,
        },
        &mut out,
    );
    for block in value.get("content").and_then(Value::as_array).into_iter().flatten() {
        decoder.block_start(block, &mut out);
        let text = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or_default();
        if block.get("type").and_then(Value::as_str) == Some("thinking") && !text("signature").is_empty() {
            out.push(Event::ReasoningSignature {
                signature: text("signature").into(),
            });
        }
    }
    let reason = value.get("stop_reason").and_then(Value::as_str).unwrap_or("end_turn");
    out.push(Event::Finish {
        reason: stop_reason(reason),
    });
    out.push(Event::Done);
    out
}
