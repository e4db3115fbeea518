//! The one place the request path calls: a request body translated for the
//! upstream, a streamed answer translated chunk by chunk, a whole answer and
//! an error body translated at once. Each dispatches on the two formats with
//! plain matches.

use bytes::Bytes;

use super::answer::Answer;
use super::errors::{anthropic_error, openai_error, read_error};
use super::events::{ErrorKind, Event, StreamError, Usage};
use super::hub::{Request, ToolKind};
use super::ids::{self, client_tool_name};
use super::{anthropic, chat, responses, Context, Format, ProtocolError};

/// How long an upstream may stay silent before the body wrapper calls
/// [`Translator::keepalive`]: Claude Code shows a stall banner after 20 s
/// without bytes and aborts after 180 s (R9).
pub const KEEPALIVE_AFTER: std::time::Duration = std::time::Duration::from_secs(15);

/// Settings of the route that shape a translated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDefaults {
    /// `max_tokens` for upstreams that require it (Anthropic) when the
    /// client sent none: the model's output limit, or a documented default.
    pub max_tokens: u64,
    /// The model's output limit: a larger `max_tokens` from the client is
    /// lowered to it instead of failing upstream (R13).
    pub max_tokens_cap: Option<u64>,
}

impl Default for RequestDefaults {
    fn default() -> Self {
        RequestDefaults {
            max_tokens: 4096,
            max_tokens_cap: None,
        }
    }
}

/// A request ready for its upstream.
#[derive(Debug, Clone)]
pub struct Translated {
    /// The body to send upstream.
    pub body: Bytes,
    /// What the answer's translation needs to know.
    pub context: Context,
    /// What the client asked for that the upstream cannot do and was left
    /// out (for a log line or a warning header).
    pub notes: Vec<String>,
}

/// Translates a client's request body into the upstream's format, with the
/// model renamed to `upstream_model`.
pub fn translate_request(
    client: Format,
    upstream: Format,
    body: &[u8],
    upstream_model: &str,
    defaults: &RequestDefaults,
) -> Result<Translated, ProtocolError> {
    let mut ingress = None;
    let (mut request, include_usage, notes): (Request, bool, Vec<String>) = match client {
        Format::Chat => {
            let (request, include_usage) = chat::parse_request(body)?;
            (request, include_usage, Vec::new())
        }
        Format::Anthropic => {
            let (request, notes) = anthropic::parse_request(body)?;
            (request, true, notes)
        }
        Format::Responses => {
            let mut parsed = responses::from_responses(body)?;
            let request = std::mem::take(&mut parsed.request);
            let notes = parsed.notes();
            ingress = Some(parsed);
            (request, true, notes)
        }
    };
    let requested = std::mem::replace(&mut request.model, upstream_model.to_owned());
    if let (Some(cap), Some(max)) = (defaults.max_tokens_cap, request.max_tokens) {
        request.max_tokens = Some(max.min(cap));
    }
    let (body, tool_names) = match upstream {
        Format::Chat => chat::build_request(&request),
        Format::Anthropic => {
            let max = defaults
                .max_tokens_cap
                .map_or(defaults.max_tokens, |cap| defaults.max_tokens.min(cap));
            (anthropic::build_request(&request, max), Vec::new())
        }
        Format::Responses => (responses::to_responses(&request), Vec::new()),
    };
    // Responses clients' namespaced tools map back to their own names.
    let tool_names = match &ingress {
        Some(ingress) => ingress.compose_names(tool_names),
        None => tool_names,
    };
    let context = Context {
        client,
        upstream,
        model: requested,
        include_usage,
        tool_names,
        custom_tools: request
            .tools
            .iter()
            .filter(|t| t.kind == ToolKind::Custom)
            .map(|t| t.name.clone())
            .collect(),
        input_estimate: request.estimate_tokens(),
    };
    Ok(Translated {
        body: Bytes::from(body.to_string()),
        context,
        notes,
    })
}

/// Reads one upstream format's stream into events.
enum Decoder {
    Chat(chat::Decoder),
    Anthropic(anthropic::Decoder),
    Responses(responses::Decoder),
}

/// Writes events in one client format.
enum Encoder {
    Chat(chat::Encoder),
    Anthropic(anthropic::Encoder),
    Responses(responses::Encoder),
}

/// Translates one streamed answer as its chunks arrive: feed it every
/// upstream chunk and send on what it returns; call `finish` at the end of
/// the upstream body, `fail` when the gateway gives up on it (a timeout),
/// and `keepalive` after about 15 s without upstream bytes.
pub struct Translator {
    tool_names: Vec<(String, String)>,
    decoder: Decoder,
    encoder: Encoder,
    events: Vec<Event>,
}

impl Translator {
    /// A translator for the answer to a request translated with `ctx`.
    pub fn new(ctx: &Context) -> Result<Self, ProtocolError> {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self::with_seed(ctx, &ids::nonce(), created)
    }

    /// A translator whose ids derive from `nonce` and whose chat chunks
    /// state `created`: the same input then gives the same bytes.
    pub fn with_seed(ctx: &Context, nonce: &str, created: u64) -> Result<Self, ProtocolError> {
        let decoder = match ctx.upstream {
            Format::Chat => Decoder::Chat(chat::Decoder::new()),
            Format::Anthropic => Decoder::Anthropic(anthropic::Decoder::new()),
            Format::Responses => Decoder::Responses(responses::Decoder::new()),
        };
        let encoder = match ctx.client {
            Format::Chat => Encoder::Chat(chat::Encoder::new(&ctx.model, nonce, created, ctx.include_usage)),
            Format::Anthropic => Encoder::Anthropic(anthropic::Encoder::new(&ctx.model, nonce, ctx.input_estimate)),
            Format::Responses => {
                Encoder::Responses(responses::Encoder::new(ctx.clone(), format!("resp_{nonce}"), created))
            }
        };
        Ok(Translator {
            tool_names: ctx.tool_names.clone(),
            decoder,
            encoder,
            events: Vec::new(),
        })
    }

    /// What the client hears as soon as the upstream answered, before its
    /// first byte (Anthropic's `message_start`, Responses' `response.created`
    /// and `response.in_progress`); empty for chat.
    pub fn start(&mut self) -> Bytes {
        let mut out = Vec::new();
        match &mut self.encoder {
            Encoder::Anthropic(encoder) => encoder.start(&mut out),
            Encoder::Responses(encoder) => encoder.begin(&mut out),
            Encoder::Chat(_) => {}
        }
        Bytes::from(out)
    }

    /// Translates the next upstream chunk.
    pub fn feed(&mut self, chunk: &[u8]) -> Bytes {
        match &mut self.decoder {
            Decoder::Chat(d) => d.feed(chunk, &mut self.events),
            Decoder::Anthropic(d) => d.feed(chunk, &mut self.events),
            Decoder::Responses(d) => d.feed(chunk, &mut self.events),
        }
        self.encode()
    }

    /// The upstream body ended: the client's closing events, or its error
    /// event when the upstream never said it was done.
    pub fn finish(&mut self) -> Bytes {
        match &mut self.decoder {
            Decoder::Chat(d) => d.finish(&mut self.events),
            Decoder::Anthropic(d) => d.finish(&mut self.events),
            Decoder::Responses(d) => d.finish(&mut self.events),
        }
        let mut out = self.encode().to_vec();
        if !self.ended() {
            self.write_failure(&StreamError::cut_short(), &mut out);
        }
        Bytes::from(out)
    }

    /// The gateway ends the stream early: the client's error event.
    pub fn fail(&mut self, error: StreamError) -> Bytes {
        let mut out = Vec::new();
        self.write_failure(&error, &mut out);
        Bytes::from(out)
    }

    /// A keepalive in the client's format, unless the stream is over.
    pub fn keepalive(&mut self) -> Option<Bytes> {
        let mut out = Vec::new();
        match &mut self.encoder {
            Encoder::Chat(e) => e.keepalive(&mut out),
            Encoder::Anthropic(e) => e.keepalive(&mut out),
            Encoder::Responses(e) => e.keepalive(&mut out),
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    /// The usage the answer reported so far (all of it once finished).
    pub fn usage(&self) -> Usage {
        match &self.encoder {
            Encoder::Chat(e) => e.usage(),
            Encoder::Anthropic(e) => e.usage(),
            Encoder::Responses(e) => e.usage(),
        }
    }

    /// The client's stream is over: done, or failed.
    pub fn ended(&self) -> bool {
        match &self.encoder {
            Encoder::Chat(e) => e.ended(),
            Encoder::Anthropic(e) => e.ended(),
            Encoder::Responses(e) => e.is_ended(),
        }
    }

    fn write_failure(&mut self, error: &StreamError, out: &mut Vec<u8>) {
        match &mut self.encoder {
            Encoder::Chat(e) => e.fail(error, out),
            Encoder::Anthropic(e) => e.fail(error, out),
            Encoder::Responses(e) => e.fail(error, out),
        }
    }

    fn encode(&mut self) -> Bytes {
        let mut out = Vec::new();
        for mut event in self.events.drain(..) {
            restore_name(&self.tool_names, &mut event);
            match &mut self.encoder {
                Encoder::Chat(e) => e.event(event, &mut out),
                Encoder::Anthropic(e) => e.event(event, &mut out),
                Encoder::Responses(e) => e.event(&event, &mut out),
            }
        }
        Bytes::from(out)
    }
}

/// Gives a call back the client's name for its tool.
fn restore_name(names: &[(String, String)], event: &mut Event) {
    if let Event::ToolStart { name, .. } = event {
        let client = client_tool_name(names, name);
        if client != name.as_str() {
            *name = client.to_owned();
        }
    }
}

/// A whole upstream answer translated for the client.
#[derive(Debug, Clone, PartialEq)]
pub struct TranslatedAnswer {
    /// 200, or the error's status when the upstream's 200 body was an error.
    pub status: u16,
    pub body: Bytes,
    pub usage: Usage,
}

/// Translates a whole (non-streamed) upstream answer through the same
/// events a stream gives.
pub fn translate_answer(ctx: &Context, body: &[u8]) -> Result<TranslatedAnswer, ProtocolError> {
    translate_answer_seeded(ctx, body, &ids::nonce())
}

/// [`translate_answer`] with a fixed nonce, for repeatable output.
pub fn translate_answer_seeded(ctx: &Context, body: &[u8], nonce: &str) -> Result<TranslatedAnswer, ProtocolError> {
    let mut events = match ctx.upstream {
        Format::Chat => chat::decode_answer(body),
        Format::Anthropic => anthropic::decode_answer(body),
        Format::Responses => responses::decode_answer(body),
    };
    for event in &mut events {
        restore_name(&ctx.tool_names, event);
    }
    let answer = Answer::collect(events.iter().cloned());
    if let Some(error) = &answer.error {
        let status = error.kind.status();
        return Ok(TranslatedAnswer {
            status,
            body: error_body(ctx.client, status, error.kind, &error.message),
            usage: answer.usage,
        });
    }
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let json = match ctx.client {
        Format::Chat => chat::answer_json(&answer, &ctx.model, nonce, created),
        Format::Anthropic => anthropic::answer_json(&answer, &ctx.model, nonce, ctx.input_estimate),
        Format::Responses => responses::answer(ctx.clone(), format!("resp_{nonce}"), created, &events),
    };
    Ok(TranslatedAnswer {
        status: 200,
        body: Bytes::from(json.to_string()),
        usage: answer.usage,
    })
}

/// An error body in a client's format: the kind decides its type, except
/// where the status names a finer one (Anthropic's `request_too_large`).
pub fn error_body(format: Format, status: u16, kind: ErrorKind, message: &str) -> Bytes {
    let value = match format {
        Format::Anthropic => anthropic_error(kind, message, status),
        // Responses clients read the same `{"error":{…}}` shape as chat.
        Format::Chat | Format::Responses => openai_error(kind, message, None),
    };
    Bytes::from(value.to_string())
}

/// An upstream's error body (any format) restated in the client's format:
/// same meaning, same message, and OpenAI's `code` kept for OpenAI clients.
pub fn translate_error(client: Format, status: u16, body: &[u8]) -> Bytes {
    let (error, code) = read_error(status, body);
    let value = match client {
        Format::Anthropic => anthropic_error(error.kind, &error.message, status),
        Format::Chat | Format::Responses => openai_error(error.kind, &error.message, code.as_deref()),
    };
    Bytes::from(value.to_string())
}

impl ProtocolError {
    /// The error body a client of `format` gets for this refusal.
    pub fn body(&self, format: Format) -> Bytes {
        let kind = match self {
            ProtocolError::Json { .. } | ProtocolError::Invalid { .. } => ErrorKind::InvalidRequest,
            ProtocolError::Unsupported { .. } => ErrorKind::Api,
        };
        error_body(format, self.status(), kind, &self.to_string())
    }
}
