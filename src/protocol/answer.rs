//! A whole answer gathered from hub events, for the formats' non-streamed
//! bodies: built from the same events a stream gives, so a streamed and a
//! non-streamed translation cannot disagree.

use super::events::{Event, FinishReason, StreamError, Usage};

/// One reasoning block of an answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReasoningBlock {
    pub text: String,
    pub signature: Option<String>,
    /// Encrypted reasoning (Anthropic `redacted_thinking`) instead of text.
    pub redacted: Option<String>,
}

/// One call of an answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnswerCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// Everything an answer said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub id: Option<String>,
    pub reasoning: Vec<ReasoningBlock>,
    pub text: String,
    /// Calls by their hub index.
    pub calls: Vec<AnswerCall>,
    pub finish: Option<FinishReason>,
    pub usage: Usage,
    pub error: Option<StreamError>,
    pub done: bool,
}

impl Answer {
    /// Gathers events into an answer.
    pub fn collect(events: impl IntoIterator<Item = Event>) -> Answer {
        let mut answer = Answer::default();
        for event in events {
            answer.push(event);
        }
        answer
    }

    /// Adds one event.
    pub fn push(&mut self, event: Event) {
        match event {
            Event::Start { id } => self.id = self.id.take().or(id),
            Event::Reasoning { text } => match self.reasoning.last_mut() {
                Some(block) if block.redacted.is_none() && block.signature.is_none() => block.text.push_str(&text),
                _ => self.reasoning.push(ReasoningBlock {
                    text,
                    ..ReasoningBlock::default()
                }),
            },
            Event::ReasoningSignature { signature } => match self.reasoning.last_mut() {
                Some(block) if block.redacted.is_none() => block.signature = Some(signature),
                _ => {}
            },
            Event::RedactedReasoning { data } => self.reasoning.push(ReasoningBlock {
                redacted: Some(data),
                ..ReasoningBlock::default()
            }),
            Event::Text { text } => self.text.push_str(&text),
            Event::ToolStart { index, id, name } => {
                if self.calls.len() <= index {
                    self.calls.resize_with(index + 1, AnswerCall::default);
                }
                if let Some(call) = self.calls.get_mut(index) {
                    call.id = id;
                    call.name = name;
                }
            }
            Event::ToolArgs { index, fragment } => {
                if let Some(call) = self.calls.get_mut(index) {
                    call.arguments.push_str(&fragment);
                }
            }
            Event::Finish { reason } => self.finish = Some(reason),
            Event::Usage(usage) => self.usage.merge(&usage),
            Event::Error(error) => self.error = Some(error),
            Event::Done => self.done = true,
        }
    }

    /// The finish reason a client should hear: `ToolCalls` whenever a call
    /// was made, unless the output limit cut the answer (R4).
    pub fn finish_reason(&self) -> FinishReason {
        effective_finish(self.finish, !self.calls.is_empty())
    }
}

/// The tool override every encoder applies: some upstreams (Ollama, Gemini,
/// some vLLM builds) say `stop` after calling tools, and agent loops halt.
pub fn effective_finish(reason: Option<FinishReason>, called_tools: bool) -> FinishReason {
    match reason {
        Some(FinishReason::Length) => FinishReason::Length,
        _ if called_tools => FinishReason::ToolCalls,
        Some(reason) => reason,
        None => FinishReason::Stop,
    }
}
