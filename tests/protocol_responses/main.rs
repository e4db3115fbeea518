//! The Responses format: request ingress and egress, the stream decoder, and
//! the encoder checked against a strict Responses grammar validator.

mod chat_stream;
mod decode;
mod encode;
mod facade;
mod props;
mod request;
mod validator;

use tollgate::protocol::events::Event;
use tollgate::protocol::responses::Encoder;
use tollgate::protocol::{Context, Format};

/// The context of a Codex request on a chat-only deployment.
pub fn context(tool_names: &[(&str, &str)], custom_tools: &[&str]) -> Context {
    Context {
        client: Format::Responses,
        upstream: Format::Chat,
        model: "gw-full".to_owned(),
        include_usage: true,
        tool_names: tool_names.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        custom_tools: custom_tools.iter().map(|s| s.to_string()).collect(),
        input_estimate: 0,
    }
}

/// Encodes `events` then the end of the upstream's stream.
pub fn encode(ctx: Context, events: &[Event]) -> Vec<u8> {
    let mut encoder = Encoder::new(ctx, "resp_test".to_owned(), 1_700_000_000);
    let mut out = Vec::new();
    for event in events {
        encoder.event(event, &mut out);
    }
    encoder.end(&mut out);
    out
}
