//! A chat completions answer (SSE chunks or one JSON body) as hub events.

use serde::Deserialize;

use crate::protocol::errors::read_error;
use crate::protocol::events::{ErrorKind, Event, FinishReason, StreamError, Usage};
use crate::protocol::sse::{SseDecoder, SseEvent};

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Option<ChatUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Choice {
    /// Streamed chunks carry `delta`, whole answers `message`.
    #[serde(default, alias = "message")]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
    /// Moonshot/Kimi put the usage here.
    #[serde(default)]
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// Chat's usage object with every provider's cache spellings.
#[derive(Deserialize, Default)]
pub(crate) struct ChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    /// LiteLLM-style upstreams.
    #[serde(default)]
    cache_read_input_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: u64,
    /// DeepSeek.
    #[serde(default)]
    prompt_cache_hit_tokens: u64,
}

#[derive(Deserialize, Default)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: u64,
    #[serde(default)]
    cache_write_tokens: u64,
}

#[derive(Deserialize, Default)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: u64,
}

impl ChatUsage {
    pub(crate) fn to_hub(&self) -> Usage {
        let prompt = self.prompt_tokens_details.as_ref();
        let cache_read = prompt
            .map_or(0, |p| p.cached_tokens)
            .max(self.cache_read_input_tokens)
            .max(self.prompt_cache_hit_tokens);
        let cache_write = prompt
            .map_or(0, |p| p.cache_write_tokens)
            .max(self.cache_creation_input_tokens);
        Usage {
            input: self.prompt_tokens,
            cache_read,
            cache_write,
            output: self.completion_tokens,
            reasoning: self
                .completion_tokens_details
                .as_ref()
                .map_or(0, |c| c.reasoning_tokens),
        }
    }
}

/// The hub's reason for a chat `finish_reason`.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// One call being assembled: the upstream's index, and its id and
/// arguments until its name arrives.
struct Call {
    upstream_index: usize,
    id: String,
    started: bool,
    pending: String,
}

/// Turns a chat SSE stream into events as its bytes arrive.
pub struct Decoder {
    sse: SseDecoder,
    frames: Vec<SseEvent>,
    started: bool,
    calls: Vec<Call>,
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
            started: false,
            calls: Vec::new(),
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

    /// The stream's bytes ended.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if self.ended {
            return;
        }
        self.sse.finish(&mut self.frames);
        self.drain(out);
        if self.ended {
            return;
        }
        if self.finished {
            self.end(out);
        } else {
            self.fail(StreamError::cut_short(), out);
        }
    }

    fn drain(&mut self, out: &mut Vec<Event>) {
        let frames = std::mem::take(&mut self.frames);
        for frame in &frames {
            if self.ended {
                break;
            }
            self.frame(frame, out);
        }
        self.frames = frames;
        self.frames.clear();
    }

    fn frame(&mut self, frame: &SseEvent, out: &mut Vec<Event>) {
        let data = frame.data.trim();
        if data == "[DONE]" {
            return self.end(out);
        }
        if data.is_empty() {
            return;
        }
        match serde_json::from_str::<Chunk>(data) {
            Ok(chunk) => self.chunk(chunk, out),
            Err(_) if frame.event.as_deref() == Some("error") => {
                let (error, _) = read_error(500, data.as_bytes());
                self.fail(error, out);
            }
            // A frame that is not a chunk (a provider's own status line) says nothing.
            Err(_) => {}
        }
    }

    fn chunk(&mut self, chunk: Chunk, out: &mut Vec<Event>) {
        if let Some(error) = chunk.error.filter(|e| !e.is_null()) {
            let body = serde_json::json!({ "error": error }).to_string();
            let (error, _) = read_error(500, body.as_bytes());
            return self.fail(error, out);
        }
        if !self.started {
            self.started = true;
            out.push(Event::Start {
                id: chunk.id.filter(|id| !id.is_empty()),
            });
        }
        let mut usage = chunk.usage.map(|u| u.to_hub());
        let mut finish = None;
        for choice in chunk.choices.into_iter().flatten() {
            if let Some(delta) = choice.delta {
                self.delta(delta, out);
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                finish = Some(finish_reason(&reason));
            }
            if let Some(choice_usage) = choice.usage {
                usage = Some(choice_usage.to_hub());
            }
        }
        if let Some(reason) = finish {
            self.flush_nameless(out);
            self.finished = true;
            out.push(Event::Finish { reason });
        }
        if let Some(usage) = usage.filter(|u| *u != Usage::default()) {
            out.push(Event::Usage(usage));
        }
    }

    fn delta(&mut self, delta: Delta, out: &mut Vec<Event>) {
        let reasoning = delta.reasoning_content.filter(|r| !r.is_empty()).or(delta.reasoning);
        if let Some(text) = reasoning.filter(|r| !r.is_empty()) {
            out.push(Event::Reasoning { text });
        }
        if let Some(text) = delta.content.filter(|c| !c.is_empty()) {
            out.push(Event::Text { text });
        }
        for (position, call) in delta.tool_calls.into_iter().flatten().enumerate() {
            self.tool_call(position, call, out);
        }
    }

    fn tool_call(&mut self, position: usize, delta: ToolCallDelta, out: &mut Vec<Event>) {
        let upstream_index = delta.index.unwrap_or(position);
        let id = delta.id.as_deref().filter(|id| !id.is_empty());
        let named = delta
            .function
            .as_ref()
            .is_some_and(|f| f.name.as_ref().is_some_and(|n| !n.is_empty()));
        // The latest call at this index, unless this fragment is plainly a
        // new call reusing it (a new id and a name: Gemini's compatibility
        // layer numbers every chunk's calls from 0).
        let index = match self.calls.iter().rposition(|c| c.upstream_index == upstream_index) {
            Some(index)
                if !(named
                    && self
                        .calls
                        .get(index)
                        .is_some_and(|c| c.started && id.is_some_and(|id| !c.id.is_empty() && c.id != id))) =>
            {
                index
            }
            _ => {
                self.calls.push(Call {
                    upstream_index,
                    id: String::new(),
                    started: false,
                    pending: String::new(),
                });
                self.calls.len() - 1
            }
        };
        let Some(call) = self.calls.get_mut(index) else { return };
        if let Some(id) = delta.id.filter(|id| !id.is_empty()) {
            if call.id.is_empty() {
                call.id = id;
            }
        }
        let (name, arguments) = match delta.function {
            Some(f) => (f.name.filter(|n| !n.is_empty()), f.arguments.unwrap_or_default()),
            None => (None, String::new()),
        };
        if !call.started {
            call.pending.push_str(&arguments);
            if let Some(name) = name {
                call.started = true;
                out.push(Event::ToolStart {
                    index,
                    id: call.id.clone(),
                    name,
                });
                let fragment = std::mem::take(&mut call.pending);
                if !fragment.is_empty() {
                    out.push(Event::ToolArgs { index, fragment });
                }
            }
        } else if !arguments.is_empty() {
            out.push(Event::ToolArgs {
                index,
                fragment: arguments,
            });
        }
    }

    /// A call whose name never came still happened: state it, nameless,
    /// rather than lose its arguments.
    fn flush_nameless(&mut self, out: &mut Vec<Event>) {
        for (index, call) in self.calls.iter_mut().enumerate() {
            if !call.started {
                call.started = true;
                out.push(Event::ToolStart {
                    index,
                    id: call.id.clone(),
                    name: String::new(),
                });
                let fragment = std::mem::take(&mut call.pending);
                if !fragment.is_empty() {
                    out.push(Event::ToolArgs { index, fragment });
                }
            }
        }
    }

    fn end(&mut self, out: &mut Vec<Event>) {
        if !self.finished {
            // `[DONE]` without a finish_reason: a normal end all the same.
            self.flush_nameless(out);
            let tools = !self.calls.is_empty();
            out.push(Event::Finish {
                reason: if tools {
                    FinishReason::ToolCalls
                } else {
                    FinishReason::Stop
                },
            });
        }
        self.ended = true;
        out.push(Event::Done);
    }

    fn fail(&mut self, error: StreamError, out: &mut Vec<Event>) {
        self.ended = true;
        out.push(Event::Error(error));
    }
}

/// A whole (non-streamed) chat completion as the same events a stream of it
/// would give.
pub fn decode_answer(body: &[u8]) -> Vec<Event> {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    match serde_json::from_slice::<Chunk>(body) {
        Ok(chunk) => {
            decoder.chunk(chunk, &mut out);
            if !decoder.ended {
                decoder.end(&mut out);
            }
        }
        Err(err) => decoder.fail(
            StreamError::new(
                ErrorKind::Api,
                format!("The upstream's answer was not a chat completion: {err}."),
            ),
            &mut out,
        ),
    }
    out
}
