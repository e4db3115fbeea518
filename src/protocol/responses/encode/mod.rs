//! Hub events → an OpenAI Responses event stream (what Codex reads), and the
//! same answer as one non-streamed Responses object.

use serde_json::{json, Value};

mod lifecycle;

use super::items::{self, ToolItem};
use super::{error_code, write_frame, Frame};
use crate::protocol::events::{Event, FinishReason, StreamError, Usage};
use crate::protocol::Context;

/// The item being streamed, if any. Items go out one after another: only one
/// is open at a time, and its `output_index` is the number of items done.
enum Open {
    None,
    Reasoning {
        id: String,
        text: String,
    },
    Message {
        id: String,
        text: String,
    },
    /// The first tool call of the answer, streamed as its fragments arrive
    /// (an index into `Encoder::tools`).
    Tool(usize),
}

/// Per-response state of one Responses stream: sequence numbers, the open
/// item, buffered tool calls and the items already complete.
pub struct Encoder {
    ctx: Context,
    id: String,
    created_at: u64,
    seq: u64,
    started: bool,
    ended: bool,
    open: Open,
    /// Every item already sent with `output_item.done`, in order.
    output: Vec<Value>,
    /// Tool calls in the upstream's order. Only the first is streamed live;
    /// the others (parallel calls, whose fragments may interleave) are sent
    /// whole when the answer ends, so every item is contiguous.
    tools: Vec<ToolItem>,
    /// Reasoning and text that arrived after a tool call began: sent as
    /// items of their own after the calls.
    late_reasoning: String,
    late_text: String,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    /// The response object of the terminal event, once sent.
    last: Option<Value>,
}

impl Encoder {
    /// A stream for the response `id` (`resp_…`), created at `created_at`
    /// (Unix seconds). The caller mints both so tests can fix them.
    pub fn new(ctx: Context, id: String, created_at: u64) -> Self {
        Encoder {
            ctx,
            id,
            created_at,
            seq: 0,
            started: false,
            ended: false,
            open: Open::None,
            output: Vec::new(),
            tools: Vec::new(),
            late_reasoning: String::new(),
            late_text: String::new(),
            finish: None,
            usage: None,
            last: None,
        }
    }

    /// Encodes one hub event, appending whole SSE events to `out`.
    pub fn event(&mut self, event: &Event, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.begin(out);
        match event {
            Event::Start { .. } => {}
            Event::Reasoning { text } => self.reasoning(text, out),
            Event::Text { text } => self.text(text, out),
            // Signatures and encrypted reasoning mean nothing to a
            // Responses client: they are Anthropic's.
            Event::ReasoningSignature { .. } | Event::RedactedReasoning { .. } => {}
            Event::ToolStart { index, id, name } => self.tool_start(*index, id, name, out),
            Event::ToolArgs { index, fragment } => self.tool_args(*index, fragment, out),
            Event::Finish { reason } => self.finish = Some(*reason),
            Event::Usage(usage) => self.add_usage(usage),
            Event::Error(error) => self.fail(error, out),
            // The upstream said it is done: a missing finish reason is then
            // a plain stop, not a cut.
            Event::Done => {
                self.finish.get_or_insert(FinishReason::Stop);
                self.end(out);
            }
        }
    }

    /// The upstream's stream ended: closes the open items and sends the one
    /// terminal event. A stream that ended before the upstream said why it
    /// stopped is a failure, never a completed response.
    pub fn end(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.begin(out);
        let Some(reason) = self.finish else {
            self.fail(&StreamError::cut_short(), out);
            return;
        };
        self.close_all(out);
        let (kind, response) = match reason {
            FinishReason::Length => (
                "response.incomplete",
                self.response("incomplete", json!({"reason": "max_output_tokens"}), Value::Null),
            ),
            FinishReason::ContentFilter => (
                "response.failed",
                self.response(
                    "failed",
                    Value::Null,
                    json!({"code": "content_filter", "message": "the provider's content filter stopped the answer"}),
                ),
            ),
            FinishReason::Stop | FinishReason::StopSequence | FinishReason::ToolCalls => (
                "response.completed",
                self.response("completed", Value::Null, Value::Null),
            ),
        };
        self.terminal(kind, response, out);
    }

    /// A keepalive Codex ignores but counts as activity: `response.in_progress`
    /// again, with its own sequence number. SSE comments would not reset
    /// Codex's idle timer, which runs over parsed events.
    pub fn keepalive(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if !self.started {
            self.begin(out);
            return;
        }
        let snapshot = self.snapshot();
        self.frame(out, "response.in_progress", &[("response", &snapshot)]);
    }

    /// The usage reported so far (all of it once the stream ended).
    pub fn usage(&self) -> Usage {
        self.usage.unwrap_or_default()
    }

    /// Whether the terminal event has been sent.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The response object the terminal event carried (`None` before it).
    pub fn response_object(&self) -> Option<&Value> {
        self.last.as_ref()
    }

    /// Sends `response.created` and `response.in_progress` (once), so the
    /// client hears the answer began before the upstream's first byte.
    pub fn begin(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let snapshot = self.snapshot();
        self.frame(out, "response.created", &[("response", &snapshot)]);
        self.frame(out, "response.in_progress", &[("response", &snapshot)]);
    }

    fn reasoning(&mut self, text: &str, out: &mut Vec<u8>) {
        if text.is_empty() {
            return;
        }
        if !self.tools.is_empty() {
            self.late_reasoning.push_str(text);
            return;
        }
        self.stream_reasoning(text, out);
    }

    fn stream_reasoning(&mut self, text: &str, out: &mut Vec<u8>) {
        if !matches!(self.open, Open::Reasoning { .. }) {
            self.close_open(out);
            self.open_reasoning(out);
        }
        let index = self.output.len();
        if let Open::Reasoning { id, text: all } = &mut self.open {
            all.push_str(text);
            let id = id.clone();
            self.delta(
                out,
                "response.reasoning_summary_text.delta",
                &id,
                index,
                "summary_index",
                text,
            );
        }
    }

    fn text(&mut self, text: &str, out: &mut Vec<u8>) {
        if text.is_empty() {
            return;
        }
        if !self.tools.is_empty() {
            self.late_text.push_str(text);
            return;
        }
        self.stream_text(text, out);
    }

    fn stream_text(&mut self, text: &str, out: &mut Vec<u8>) {
        if !matches!(self.open, Open::Message { .. }) {
            self.close_open(out);
            self.open_message(out);
        }
        let index = self.output.len();
        if let Open::Message { id, text: all } = &mut self.open {
            all.push_str(text);
            let id = id.clone();
            self.delta(out, "response.output_text.delta", &id, index, "content_index", text);
        }
    }

    fn tool_start(&mut self, index: usize, id: &str, name: &str, out: &mut Vec<u8>) {
        if self.tools.iter().any(|t| t.index == index) {
            return;
        }
        let first = self.tools.is_empty();
        let call_id = if id.is_empty() {
            format!("call_{}_{index}", self.suffix())
        } else {
            id.to_owned()
        };
        let mut tool = ToolItem::new(index, call_id, name, &self.ctx);
        if !matches!(self.open, Open::Tool(_)) {
            self.close_open(out);
        }
        // Only a first function call streams live: a custom tool's input is
        // known only once its JSON wrapper is whole.
        if first && !tool.custom {
            let index = self.output.len();
            tool.item_id = format!("fc_{}_{index}", self.suffix());
            let added = tool.in_progress();
            let fields = [("output_index", &json!(index)), ("item", &added)];
            self.frame(out, "response.output_item.added", &fields);
            self.open = Open::Tool(0);
        }
        self.tools.push(tool);
    }

    fn tool_args(&mut self, index: usize, fragment: &str, out: &mut Vec<u8>) {
        let Some(at) = self.tools.iter().position(|t| t.index == index) else {
            return;
        };
        let streaming = matches!(self.open, Open::Tool(open) if open == at);
        let Some(tool) = self.tools.get_mut(at) else {
            return;
        };
        tool.arguments.push_str(fragment);
        if streaming && !fragment.is_empty() {
            let item_id = tool.item_id.clone();
            let index = self.output.len();
            self.delta(
                out,
                "response.function_call_arguments.delta",
                &item_id,
                index,
                "",
                fragment,
            );
        }
    }

    fn add_usage(&mut self, usage: &Usage) {
        self.usage.get_or_insert_with(Usage::default).merge(usage);
    }

    /// Ends the stream with `response.failed`: a failed answer must never
    /// look like a finished one. Items still open are left out of `output`.
    pub fn fail(&mut self, error: &StreamError, out: &mut Vec<u8>) {
        let response = self.response(
            "failed",
            Value::Null,
            json!({"code": error_code(error.kind), "message": error.message}),
        );
        self.terminal("response.failed", response, out);
    }

    fn terminal(&mut self, kind: &str, response: Value, out: &mut Vec<u8>) {
        self.frame(out, kind, &[("response", &response)]);
        self.last = Some(response);
        self.ended = true;
    }

    /// The response as `created`/`in_progress` show it: nothing yet.
    fn snapshot(&self) -> Value {
        json!({
            "id": self.id, "object": "response", "created_at": self.created_at,
            "status": "in_progress", "model": self.ctx.model, "output": [],
            "usage": null, "error": null, "incomplete_details": null,
        })
    }

    /// The whole response as a terminal event (and a non-streamed answer)
    /// carries it.
    fn response(&self, status: &str, incomplete: Value, error: Value) -> Value {
        json!({
            "id": self.id, "object": "response", "created_at": self.created_at,
            "status": status, "model": self.ctx.model, "output": self.output,
            "usage": self.usage.map(|u| items::usage(&u)),
            "error": error, "incomplete_details": incomplete,
        })
    }

    /// The response id without its `resp_` prefix, to derive item ids from.
    fn suffix(&self) -> &str {
        self.id.strip_prefix("resp_").unwrap_or(&self.id)
    }

    fn frame(&mut self, out: &mut Vec<u8>, kind: &str, fields: &[(&str, &Value)]) {
        write_frame(out, kind, self.seq, Frame::Values(fields));
        self.seq += 1;
    }

    /// The hot path: a delta event written without building a `Value`.
    fn delta(&mut self, out: &mut Vec<u8>, kind: &str, item_id: &str, index: usize, sub: &str, delta: &str) {
        write_frame(
            out,
            kind,
            self.seq,
            Frame::Delta {
                item_id,
                index,
                sub,
                delta,
            },
        );
        self.seq += 1;
    }
}

/// The non-streamed answer: the response object `response.completed` (or
/// `.incomplete`, `.failed`) would carry for the same events.
pub fn answer(ctx: Context, id: String, created_at: u64, events: &[Event]) -> Value {
    let mut encoder = Encoder::new(ctx, id, created_at);
    let mut sink = Vec::new();
    for event in events {
        encoder.event(event, &mut sink);
        sink.clear();
    }
    encoder.end(&mut sink);
    encoder.last.unwrap_or(Value::Null)
}
