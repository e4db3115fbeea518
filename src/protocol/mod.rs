//! Protocol translation: passthrough when the client and the upstream speak
//! the same wire format, and one hub (a typed request form and a stream of
//! events) between them when they don't.
//!
//! Everything here is pure functions and state machines over bytes and
//! events. It imports nothing of the request path (config, router, forward,
//! telemetry), so each format can be tested alone.

pub mod events;
pub mod hub;
pub mod responses;

/// A wire format a client speaks or an upstream serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// OpenAI chat completions (`/v1/chat/completions`).
    Chat,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// OpenAI Responses (`/v1/responses`).
    Responses,
}

impl Format {
    /// The name used in logs, spans, metric labels and `tollgate check`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Chat => "chat",
            Format::Anthropic => "anthropic",
            Format::Responses => "responses",
        }
    }
}

/// Per-request facts that travel from request translation to the response
/// body wrapper. Per-response state lives in the encoder, not here.
#[derive(Debug, Clone)]
pub struct Context {
    /// The format the client speaks (and must get its answer in).
    pub client: Format,
    /// The format the upstream was sent.
    pub upstream: Format,
    /// The model name the client asked for, echoed in every answer.
    pub model: String,
    /// The client asked for usage in its stream (chat's
    /// `stream_options.include_usage`); other formats always carry it.
    pub include_usage: bool,
    /// Tool names as sent upstream, with the client's own name when they
    /// differ (names cut to a provider's length limit, flattened namespaces).
    pub tool_names: Vec<(String, String)>,
    /// Names of the client's freeform (`custom`) tools: their calls are
    /// answered as `custom_tool_call`, their one string argument unwrapped.
    pub custom_tools: Vec<String>,
    /// An estimate of the prompt's tokens, for answers that must state input
    /// usage before the upstream has (Anthropic's `message_start`).
    pub input_estimate: u64,
}
