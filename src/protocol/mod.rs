//! Protocol translation: passthrough when the client and the upstream speak
//! the same wire format, and one hub (a typed request form and a stream of
//! events) between them when they don't.
//!
//! Everything here is pure functions and state machines over bytes and
//! events. It imports nothing of the request path (config, router, forward,
//! telemetry), so each format can be tested alone.

pub mod answer;
pub mod anthropic;
pub mod chat;
pub mod errors;
pub mod events;
pub mod hub;
pub mod ids;
pub mod responses;
pub mod sse;
mod translate;

pub use translate::{
    error_body, translate_answer, translate_answer_seeded, translate_error, translate_request, RequestDefaults,
    Translated, TranslatedAnswer, Translator, KEEPALIVE_AFTER,
};

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

/// A request that cannot be translated, with what the client must fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// The body is not JSON.
    Json { message: String },
    /// A field is missing or wrong; `field` is its path (`messages.2.content`).
    Invalid { field: String, message: String },
    /// No translation from the client's format to the upstream's exists.
    Unsupported { client: Format, upstream: Format },
}

impl ProtocolError {
    /// The body did not parse as JSON.
    pub fn json(err: serde_json::Error) -> Self {
        ProtocolError::Json {
            message: format!("The request body is not valid JSON: {err}."),
        }
    }

    /// `field` is missing or wrong, as `message` says.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ProtocolError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The field at fault, when one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            ProtocolError::Invalid { field, .. } => Some(field),
            ProtocolError::Json { .. } | ProtocolError::Unsupported { .. } => None,
        }
    }

    /// The HTTP status it answers with: the client's request is at fault
    /// (400), or the gateway cannot serve this pair of formats (501).
    pub fn status(&self) -> u16 {
        match self {
            ProtocolError::Json { .. } | ProtocolError::Invalid { .. } => 400,
            ProtocolError::Unsupported { .. } => 501,
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::Json { message } => f.write_str(message),
            ProtocolError::Invalid { field, message } if field.is_empty() => f.write_str(message),
            ProtocolError::Invalid { field, message } => write!(f, "{field}: {message}"),
            ProtocolError::Unsupported { client, upstream } => write!(
                f,
                "This gateway cannot yet translate {} requests for a {} upstream.",
                client.name(),
                upstream.name()
            ),
        }
    }
}

impl std::error::Error for ProtocolError {}
/// The format to send a `client`-format request in, to an upstream that
/// speaks `serves` (most preferred first): the client's own when the
/// upstream speaks it (passthrough), else the upstream's first. `None` when
/// the upstream speaks nothing.
pub fn plan(client: Format, serves: &[Format]) -> Option<Format> {
    if serves.contains(&client) {
        Some(client)
    } else {
        serves.first().copied()
    }
}
