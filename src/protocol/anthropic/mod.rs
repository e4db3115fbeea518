//! Anthropic Messages: its requests into and out of the hub, its answers
//! (streamed and whole) into and out of hub events.

mod build;
mod decode;
mod encode;
mod replay;
mod request;

pub use build::{build_request, GATEWAY_SIGNATURE_PREFIX};
pub use decode::{decode_answer, stop_reason, Decoder};
pub use encode::{answer_json, stop_reason_name, usage_json, Encoder};
pub use replay::without_unsigned_thinking;
pub use request::{parse_count_request, parse_request};
