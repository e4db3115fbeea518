//! The request body: read it within the size limit, find `model`, `stream`
//! and `stream_options` without building a JSON tree, refuse fields that would
//! steer the gateway, and splice in the upstream model name (and, for a
//! stream, the request for usage) without re-serialising.

use std::fmt;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::GatewayError;
use crate::providers::Endpoint;

/// Body fields a client could use to send the gateway's key elsewhere or to
/// change its credentials or headers (LiteLLM's CVE-2024-6587 class). A
/// request carrying any of them is refused.
pub const STEERING_FIELDS: &[&str] = &[
    "api_base",
    "api_key",
    "api_version",
    "aws_access_key_id",
    "aws_region_name",
    "aws_secret_access_key",
    "aws_session_token",
    "azure_ad_token",
    "base_url",
    "custom_llm_provider",
    "extra_headers",
    "headers",
    "litellm_params",
    "user_config",
    "vertex_credentials",
    "vertex_location",
    "vertex_project",
];

/// Reads the whole body, refusing one over `limit` bytes without buffering it:
/// a declared `content-length` over the limit is refused before reading.
pub async fn read_body(body: Incoming, headers: &HeaderMap, limit: usize) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::BodyTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(GatewayError::BodyTooLarge { limit }),
        Err(_) => Err(GatewayError::BodyRead),
    }
}

/// What routing needs from a body.
#[derive(Debug, PartialEq)]
pub struct Peek {
    /// The `model` the client asked for.
    pub model: String,
    /// Byte range of the `model` value (quotes included) in the body.
    pub model_span: (usize, usize),
    /// `"stream": true`.
    pub stream: bool,
    /// What the top-level `stream_options` says about usage.
    pub stream_options: StreamOptions,
}

/// The top-level `stream_options` as far as usage goes, with the byte offsets
/// needed to turn usage on by splicing. A repeated key counts as its last
/// occurrence, as it does for the provider's parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOptions {
    /// No `stream_options`.
    Absent,
    /// `"stream_options": null`: the byte range of the `null`.
    Null((usize, usize)),
    /// An object without `include_usage`: the offset just past its `{`, and
    /// whether the object is empty.
    NoUsage { open: usize, empty: bool },
    /// `include_usage` is `false` or `null`: the byte range of that value.
    UsageOff((usize, usize)),
    /// `include_usage: true`: the client reads the usage chunk itself.
    UsageOn,
    /// Not an object, or `include_usage` not a boolean: left for the provider to refuse.
    Other,
}

/// Finds `model` and `stream` in one pass over a JSON object, skipping every
/// other value unparsed.
pub fn peek(body: &[u8]) -> Result<Peek, GatewayError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let found = de.deserialize_map(PeekVisitor).map_err(|e| match e.to_string() {
        m if m.starts_with(FORBIDDEN) => GatewayError::ForbiddenField(forbidden_name(&m)),
        m => GatewayError::InvalidJson(m),
    })?;
    de.end().map_err(|e| GatewayError::InvalidJson(e.to_string()))?;
    let raw = found.model.ok_or(GatewayError::MissingModel)?;
    let model: String = serde_json::from_str(raw.get()).map_err(|_| GatewayError::MissingModel)?;
    if model.is_empty() {
        return Err(GatewayError::MissingModel);
    }
    Ok(Peek {
        model,
        model_span: span_in(body, raw),
        stream: found.stream.unwrap_or(false),
        stream_options: found
            .stream_options
            .map_or(StreamOptions::Absent, |o| stream_options(body, o)),
    })
}

/// The byte range of `raw` in `body`: RawValue borrows from `body`, so its
/// offset is found by address.
fn span_in(body: &[u8], raw: &RawValue) -> (usize, usize) {
    let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
    (start, start + raw.get().len())
}

/// Classifies the raw `stream_options` value. Only its own few bytes are
/// read again; the body is never parsed into a tree.
fn stream_options(body: &[u8], raw: &RawValue) -> StreamOptions {
    let span = span_in(body, raw);
    match raw.get().as_bytes().first() {
        Some(b'n') => return StreamOptions::Null(span),
        Some(b'{') => {}
        _ => return StreamOptions::Other,
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let Ok((fields, include_usage)) = de.deserialize_map(OptionsVisitor) else {
        return StreamOptions::Other;
    };
    match include_usage.map(RawValue::get) {
        None => StreamOptions::NoUsage {
            open: span.0 + 1,
            empty: fields == 0,
        },
        Some("true") => StreamOptions::UsageOn,
        Some("false" | "null") => StreamOptions::UsageOff(span_in(body, include_usage.unwrap())),
        Some(_) => StreamOptions::Other,
    }
}

/// The body to send upstream, in one copy (none when nothing changes): the
/// deployment's model name (a JSON string literal) spliced in, and, for a
/// streamed chat or text completion whose client did not ask for the usage
/// chunk, `stream_options.include_usage` turned on. `true` means usage was
/// injected, so the usage chunk must be dropped on the way back. The
/// Responses API reports usage in `response.completed` anyway, and
/// embeddings do not stream.
pub fn upstream_body(body: &Bytes, peeked: &Peek, endpoint: Endpoint, upstream_model_json: &str) -> (Bytes, bool) {
    let span = peeked.model_span;
    let model = (&body[span.0..span.1] != upstream_model_json.as_bytes()).then_some(Splice {
        span,
        with: upstream_model_json.as_bytes(),
    });
    let usage = usage_splice(peeked, endpoint);
    let injected = usage.is_some();
    let mut splices: Vec<Splice> = model.into_iter().chain(usage).collect();
    if splices.is_empty() {
        return (body.clone(), false);
    }
    // The model value ends where a missing `stream_options` is inserted, so
    // ties order by end: the replacement first, then the insertion.
    splices.sort_by_key(|s| s.span);
    (apply(body, &splices), injected)
}

/// Replace `span` of the body with `with` (an insertion when the span is empty).
struct Splice<'a> {
    span: (usize, usize),
    with: &'a [u8],
}

/// The splice that turns usage on, if the request needs one.
fn usage_splice(peeked: &Peek, endpoint: Endpoint) -> Option<Splice<'static>> {
    if !peeked.stream || !matches!(endpoint, Endpoint::ChatCompletions | Endpoint::Completions) {
        return None;
    }
    let (span, with): (_, &[u8]) = match peeked.stream_options {
        // Right after the `model` value there is always a `,` or the `}`
        // ahead, so a new member fits there without looking further.
        StreamOptions::Absent => {
            let end = peeked.model_span.1;
            ((end, end), br#","stream_options":{"include_usage":true}"#)
        }
        StreamOptions::Null(span) => (span, br#"{"include_usage":true}"#),
        StreamOptions::NoUsage { open, empty: true } => ((open, open), br#""include_usage":true"#),
        StreamOptions::NoUsage { open, empty: false } => ((open, open), br#""include_usage":true,"#),
        StreamOptions::UsageOff(span) => (span, b"true"),
        StreamOptions::UsageOn | StreamOptions::Other => return None,
    };
    Some(Splice { span, with })
}

/// Applies splices sorted by position and not overlapping.
fn apply(body: &Bytes, splices: &[Splice]) -> Bytes {
    let grow: usize = splices.iter().map(|s| s.with.len()).sum();
    let mut out = BytesMut::with_capacity(body.len() + grow);
    let mut at = 0;
    for s in splices {
        out.extend_from_slice(&body[at..s.span.0]);
        out.extend_from_slice(s.with);
        at = s.span.1;
    }
    out.extend_from_slice(&body[at..]);
    out.freeze()
}

const FORBIDDEN: &str = "forbidden field ";

fn forbidden_name(message: &str) -> &'static str {
    let name = message[FORBIDDEN.len()..].split_whitespace().next().unwrap_or("");
    STEERING_FIELDS
        .iter()
        .find(|f| **f == name)
        .copied()
        .unwrap_or("api_base")
}

struct Found<'a> {
    model: Option<&'a RawValue>,
    stream: Option<bool>,
    stream_options: Option<&'a RawValue>,
}

struct PeekVisitor;

impl<'de> Visitor<'de> for PeekVisitor {
    type Value = Found<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found<'de>, A::Error> {
        let mut found = Found {
            model: None,
            stream: None,
            stream_options: None,
        };
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Model if found.model.is_some() => return Err(de::Error::custom("duplicate field `model`")),
                Key::Model => found.model = Some(map.next_value()?),
                Key::Stream => {
                    found.stream = map.next_value::<Option<bool>>()?;
                }
                Key::StreamOptions => found.stream_options = Some(map.next_value()?),
                Key::Forbidden(name) => return Err(de::Error::custom(format_args!("{FORBIDDEN}{name}"))),
                Key::IncludeUsage | Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// Counts the members of `stream_options` and finds `include_usage` (the
/// last one, if repeated).
struct OptionsVisitor;

impl<'de> Visitor<'de> for OptionsVisitor {
    type Value = (usize, Option<&'de RawValue>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut fields, mut include_usage) = (0, None);
        while let Some(key) = map.next_key::<Key>()? {
            fields += 1;
            match key {
                Key::IncludeUsage => include_usage = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((fields, include_usage))
    }
}

/// A key, classified without allocating.
enum Key {
    Model,
    Stream,
    StreamOptions,
    IncludeUsage,
    Forbidden(&'static str),
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "model" => Key::Model,
                    "stream" => Key::Stream,
                    "stream_options" => Key::StreamOptions,
                    "include_usage" => Key::IncludeUsage,
                    other => match STEERING_FIELDS.binary_search(&other) {
                        Ok(i) => Key::Forbidden(STEERING_FIELDS[i]),
                        Err(_) => Key::Other,
                    },
                })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests;
