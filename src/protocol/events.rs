//! The hub's stream: what any upstream answer is decoded to and any client
//! answer is encoded from. A non-streamed answer is the same events at once.

/// One thing an upstream said, in the order it said it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The answer began. `id` is the upstream's response id when it gave one.
    Start { id: Option<String> },
    /// A piece of reasoning text (`reasoning_content`, Anthropic `thinking`,
    /// a Responses reasoning summary).
    Reasoning { text: String },
    /// The signature of the reasoning so far (Anthropic only; opaque).
    ReasoningSignature { signature: String },
    /// Reasoning the provider returned encrypted (Anthropic
    /// `redacted_thinking`): passed back only to the same kind of provider.
    RedactedReasoning { data: String },
    /// A piece of answer text.
    Text { text: String },
    /// A tool call began. `index` numbers the answer's calls from 0 in the
    /// upstream's order; `id` and `name` are the upstream's.
    ToolStart { index: usize, id: String, name: String },
    /// A fragment of a call's JSON arguments. The fragments of one call,
    /// concatenated, are the upstream's arguments text.
    ToolArgs { index: usize, fragment: String },
    /// Why the answer stopped (may come before `Usage`).
    Finish { reason: FinishReason },
    /// Token counts; a later `Usage` replaces an earlier one field by field
    /// where the later one is non-zero.
    Usage(Usage),
    /// The upstream failed after the answer began (an in-band error object,
    /// an Anthropic `error` event, a stream cut before its end).
    Error(StreamError),
    /// The answer ended normally (`[DONE]`, `message_stop`, the end of a
    /// whole answer): nothing follows. Encoders write their closing events
    /// on it, so the client hears the end without waiting for the socket.
    Done,
}

/// Why a model stopped, in the hub's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// A natural end of turn.
    Stop,
    /// One of the request's stop sequences.
    StopSequence,
    /// The output token limit.
    Length,
    /// The model called tools.
    ToolCalls,
    /// The provider's content filter.
    ContentFilter,
}

/// Token counts in the hub's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// All prompt tokens, cache reads and writes included (OpenAI's
    /// `prompt_tokens`; Anthropic's input + cache read + cache creation).
    pub input: u64,
    /// Of `input`, tokens read from the prompt cache.
    pub cache_read: u64,
    /// Of `input`, tokens written to the prompt cache.
    pub cache_write: u64,
    /// All output tokens, reasoning included.
    pub output: u64,
    /// Of `output`, reasoning tokens.
    pub reasoning: u64,
}

impl Usage {
    /// Folds a later report into this one: each non-zero field replaces.
    pub fn merge(&mut self, later: &Usage) {
        let pick = |old: &mut u64, new: u64| {
            if new > 0 {
                *old = new;
            }
        };
        pick(&mut self.input, later.input);
        pick(&mut self.cache_read, later.cache_read);
        pick(&mut self.cache_write, later.cache_write);
        pick(&mut self.output, later.output);
        pick(&mut self.reasoning, later.reasoning);
    }

    /// Prompt tokens neither read from nor written to the cache (Anthropic's
    /// `input_tokens`).
    pub fn uncached_input(&self) -> u64 {
        self.input
            .saturating_sub(self.cache_read)
            .saturating_sub(self.cache_write)
    }
}

/// An error that ends a stream, in terms every client format can state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    pub kind: ErrorKind,
    pub message: String,
}

impl StreamError {
    /// An error of this kind saying this.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        StreamError {
            kind,
            message: message.into(),
        }
    }

    /// The stream ended before the upstream said it was done.
    pub fn cut_short() -> Self {
        Self::new(
            ErrorKind::Api,
            "The upstream stream ended before the answer was complete.",
        )
    }
}

/// The kinds of error the client formats distinguish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    RateLimit,
    ContextLength,
    Overloaded,
    Timeout,
    /// Anything else the provider or the gateway got wrong.
    Api,
}
