//! Hub events as a chat completions answer: SSE chunks as they come, or one
//! JSON body.

use serde_json::{json, Map, Value};

use crate::protocol::answer::{effective_finish, Answer};
use crate::protocol::errors::openai_error;
use crate::protocol::events::{Event, FinishReason, StreamError, Usage};
use crate::protocol::sse::write_comment;

/// Chat's `finish_reason` for the hub's.
pub fn finish_reason_name(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::StopSequence => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

/// Chat's usage object for hub usage.
pub fn usage_json(usage: &Usage) -> Value {
    let mut value = json!({
        "prompt_tokens": usage.input,
        "completion_tokens": usage.output,
        "total_tokens": usage.input + usage.output,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning},
    });
    let details = value.get_mut("prompt_tokens_details").and_then(Value::as_object_mut);
    if let Some(details) = details.filter(|_| usage.cache_write > 0) {
        details.insert("cache_write_tokens".into(), usage.cache_write.into());
    }
    value
}

fn push_json_str(out: &mut Vec<u8>, text: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// Writes a chat SSE stream from hub events.
pub struct Encoder {
    /// `data: {"id":…,"object":…,"created":…,"model":…,"choices":[` once.
    prefix: Vec<u8>,
    include_usage: bool,
    role_sent: bool,
    /// Which hub call indices got a start, and whether they got arguments.
    calls: Vec<(usize, bool)>,
    finish: Option<FinishReason>,
    finish_sent: bool,
    usage: Usage,
    ended: bool,
}

impl Encoder {
    /// An encoder answering as `model`, in a completion `chatcmpl-<nonce>`.
    pub fn new(model: &str, nonce: &str, created: u64, include_usage: bool) -> Self {
        let mut prefix = Vec::with_capacity(128);
        prefix.extend_from_slice(b"data: {\"id\":\"chatcmpl-");
        prefix.extend_from_slice(nonce.as_bytes());
        prefix.extend_from_slice(b"\",\"object\":\"chat.completion.chunk\",\"created\":");
        prefix.extend_from_slice(created.to_string().as_bytes());
        prefix.extend_from_slice(b",\"model\":");
        push_json_str(&mut prefix, model);
        prefix.extend_from_slice(b",\"choices\":[");
        Encoder {
            prefix,
            include_usage,
            role_sent: false,
            calls: Vec::new(),
            finish: None,
            finish_sent: false,
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

    /// Writes what one event means for the client.
    pub fn event(&mut self, event: Event, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match event {
            Event::Start { .. } | Event::ReasoningSignature { .. } | Event::RedactedReasoning { .. } => {}
            Event::Reasoning { text } => self.delta(out, |o| {
                o.extend_from_slice(b"\"reasoning_content\":");
                push_json_str(o, &text);
            }),
            Event::Text { text } => self.delta(out, |o| {
                o.extend_from_slice(b"\"content\":");
                push_json_str(o, &text);
            }),
            Event::ToolStart { index, id, name } => {
                self.calls.push((index, false));
                self.delta(out, |o| {
                    o.extend_from_slice(b"\"tool_calls\":[{\"index\":");
                    o.extend_from_slice(index.to_string().as_bytes());
                    o.extend_from_slice(b",\"id\":");
                    push_json_str(o, &id);
                    o.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
                    push_json_str(o, &name);
                    o.extend_from_slice(b",\"arguments\":\"\"}}]");
                });
            }
            Event::ToolArgs { index, fragment } => {
                if fragment.is_empty() {
                    return;
                }
                match self.calls.iter_mut().find(|(i, _)| *i == index) {
                    Some(call) => call.1 = true,
                    // Arguments of a call never started cannot be placed.
                    None => return,
                }
                self.args(index, &fragment, out);
            }
            Event::Finish { reason } => {
                self.close_argless(out);
                self.finish = Some(reason);
            }
            Event::Usage(usage) => self.usage.merge(&usage),
            Event::Error(error) => self.fail(&error, out),
            Event::Done => self.done(out),
        }
    }

    /// A keepalive comment (clients ignore it; idle timers see bytes).
    pub fn keepalive(&mut self, out: &mut Vec<u8>) {
        if !self.ended {
            write_comment(out, "keepalive");
        }
    }

    /// Ends the stream with an error object and no `[DONE]`.
    pub fn fail(&mut self, error: &StreamError, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.ended = true;
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(openai_error(error.kind, &error.message, None).to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    fn done(&mut self, out: &mut Vec<u8>) {
        self.close_argless(out);
        let called = !self.calls.is_empty();
        let reason = finish_reason_name(effective_finish(self.finish, called));
        if !self.finish_sent {
            self.finish_sent = true;
            out.extend_from_slice(&self.prefix);
            out.extend_from_slice(b"{\"index\":0,\"delta\":{},\"finish_reason\":\"");
            out.extend_from_slice(reason.as_bytes());
            out.extend_from_slice(b"\"}]}\n\n");
        }
        if self.include_usage {
            out.extend_from_slice(&self.prefix);
            out.extend_from_slice(b"],\"usage\":");
            out.extend_from_slice(usage_json(&self.usage).to_string().as_bytes());
            out.extend_from_slice(b"}\n\n");
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        self.ended = true;
    }

    /// A call that got no arguments still has some: `{}` (R1).
    fn close_argless(&mut self, out: &mut Vec<u8>) {
        let mut argless = Vec::new();
        for (index, has_args) in &mut self.calls {
            if !*has_args {
                *has_args = true;
                argless.push(*index);
            }
        }
        for index in argless {
            self.args(index, "{}", out);
        }
    }

    fn args(&mut self, index: usize, fragment: &str, out: &mut Vec<u8>) {
        self.delta(out, |o| {
            o.extend_from_slice(b"\"tool_calls\":[{\"index\":");
            o.extend_from_slice(index.to_string().as_bytes());
            o.extend_from_slice(b",\"function\":{\"arguments\":");
            push_json_str(o, fragment);
            o.extend_from_slice(b"}}]");
        });
    }

    fn delta(&mut self, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(b"{\"index\":0,\"delta\":{");
        if !self.role_sent {
            self.role_sent = true;
            out.extend_from_slice(b"\"role\":\"assistant\",");
        }
        body(out);
        out.extend_from_slice(b"},\"finish_reason\":null}]}\n\n");
    }
}

/// A whole chat completion for an answer.
pub fn answer_json(answer: &Answer, model: &str, nonce: &str, created: u64) -> Value {
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    let text = (!answer.text.is_empty()).then(|| answer.text.clone());
    message.insert("content".into(), text.map_or(Value::Null, Value::String));
    let reasoning: String = answer.reasoning.iter().map(|r| r.text.as_str()).collect();
    if !reasoning.is_empty() {
        message.insert("reasoning_content".into(), reasoning.into());
    }
    if !answer.calls.is_empty() {
        let calls: Vec<Value> = answer
            .calls
            .iter()
            .map(|call| {
                let arguments = if call.arguments.is_empty() {
                    "{}"
                } else {
                    &call.arguments
                };
                json!({"id": call.id, "type": "function",
                       "function": {"name": call.name, "arguments": arguments}})
            })
            .collect();
        message.insert("tool_calls".into(), calls.into());
    }
    json!({
        "id": format!("chatcmpl-{nonce}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason_name(answer.finish_reason()),
        }],
        "usage": usage_json(&answer.usage),
    })
}
