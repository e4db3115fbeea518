//! OpenAI chat completions: its requests into and out of the hub, its
//! answers (streamed and whole) into and out of hub events.

mod build;
mod decode;
mod encode;
mod request;

pub use build::{build_request, ERROR_PREFIX, SYSTEM_MARKER};
pub use decode::{decode_answer, finish_reason, Decoder};
pub use encode::{answer_json, finish_reason_name, usage_json, Encoder};
pub use request::{image_source, parse_request};
