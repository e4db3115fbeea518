//! OpenAI's Responses API (`/v1/responses`, what Codex speaks) in and out of
//! the hub: request ingress and egress, a stream decoder and encoder.

pub mod decode;
pub mod egress;
pub mod encode;
pub mod ingress;
pub mod items;

pub use decode::{decode_answer, Decoder};
pub use egress::to_responses;
pub use encode::{answer, Encoder};
pub use ingress::{from_responses, Ingress, IngressError};

use serde_json::Value;

use super::events::ErrorKind;

/// The Responses error `code` for a hub error kind. Codex treats
/// `context_length_exceeded` and `rate_limit_exceeded` specially, so those
/// must survive translation.
pub fn error_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::Authentication => "invalid_api_key",
        ErrorKind::Permission => "permission_denied",
        ErrorKind::NotFound => "model_not_found",
        ErrorKind::RateLimit => "rate_limit_exceeded",
        ErrorKind::ContextLength => "context_length_exceeded",
        ErrorKind::Overloaded => "server_is_overloaded",
        ErrorKind::Timeout => "upstream_timeout",
        ErrorKind::Api => "upstream_error",
    }
}

/// The hub error kind for a Responses (or OpenAI) error code or type.
pub fn error_kind(code: &str) -> ErrorKind {
    match code {
        "invalid_request_error" | "invalid_prompt" | "invalid_value" => ErrorKind::InvalidRequest,
        "invalid_api_key" | "authentication_error" => ErrorKind::Authentication,
        "permission_denied" | "insufficient_quota" => ErrorKind::Permission,
        "model_not_found" | "not_found" => ErrorKind::NotFound,
        "rate_limit_exceeded" | "rate_limit_error" => ErrorKind::RateLimit,
        "context_length_exceeded" => ErrorKind::ContextLength,
        "server_is_overloaded" | "overloaded_error" | "slow_down" => ErrorKind::Overloaded,
        "upstream_timeout" | "timeout" => ErrorKind::Timeout,
        _ => ErrorKind::Api,
    }
}

/// The fields of one SSE event after `type` and `sequence_number`.
enum Frame<'a> {
    /// Any fields, written from JSON values.
    Values(&'a [(&'a str, &'a Value)]),
    /// A delta event: `item_id`, `output_index`, a sub-index (0) when named,
    /// and `delta`. Written without building a `Value`: this is per chunk.
    Delta {
        item_id: &'a str,
        index: usize,
        sub: &'a str,
        delta: &'a str,
    },
}

/// Appends one SSE event whose `event:` line equals its JSON `type`.
fn write_frame(out: &mut Vec<u8>, kind: &str, seq: u64, frame: Frame<'_>) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"sequence_number\":");
    out.extend_from_slice(n.format(seq).as_bytes());
    match frame {
        Frame::Values(fields) => {
            for (key, value) in fields {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(b"\":");
                // Writing a `Value` into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, value);
            }
        }
        Frame::Delta {
            item_id,
            index,
            sub,
            delta,
        } => {
            out.extend_from_slice(b",\"item_id\":");
            let _ = serde_json::to_writer(&mut *out, item_id);
            out.extend_from_slice(b",\"output_index\":");
            out.extend_from_slice(n.format(index).as_bytes());
            if !sub.is_empty() {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(sub.as_bytes());
                out.extend_from_slice(b"\":0");
            }
            out.extend_from_slice(b",\"delta\":");
            let _ = serde_json::to_writer(&mut *out, delta);
        }
    }
    out.extend_from_slice(b"}\n\n");
}
