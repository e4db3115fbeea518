//! The request body: read it within the size limit, find `model`, `stream`
//! and `stream_options` without building a JSON tree, refuse fields that would
//! steer the gateway, and splice in the upstream model name (and, for a
//! stream, the request for usage) without re-serialising.

mod default_formats;
pub mod defaults;
pub mod rename;

use std::fmt;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::GatewayError;
use crate::providers::Endpoint;

/// Body fields a client could use to send the gateway's key elsewhere, to
/// change its credentials or headers, or to send the request (or its log)
/// to a host of its choosing (LiteLLM's CVE-2024-6587 class): LiteLLM's
/// credential and endpoint `litellm_params`, which it also reads from a
/// request body. A request carrying any of them is refused. A key matches
/// whatever its case and separators (`API_BASE`, `apiBase`, `api-base`),
/// as [`steering_field`] compares them; the list is sorted in that form.
pub const STEERING_FIELDS: &[&str] = &[
    "api_base",
    "api_key",
    "api_version",
    "arize_api_key",
    "arize_space_key",
    "aws_access_key_id",
    "aws_batch_role_arn",
    "aws_bedrock_runtime_endpoint",
    "aws_external_id",
    "aws_profile_name",
    "aws_region_name",
    "aws_role_name",
    "aws_secret_access_key",
    "aws_session_name",
    "aws_session_token",
    "aws_sts_endpoint",
    "aws_web_identity_token",
    "azure_ad_token",
    "azure_ad_token_provider",
    "azure_endpoint",
    "azure_password",
    "azure_scope",
    "azure_username",
    "base_url",
    "client_id",
    "client_secret",
    "configurable_clientside_auth_params",
    "custom_llm_provider",
    "default_headers",
    "extra_headers",
    "gcs_path_service_account",
    "headers",
    "humanloop_api_key",
    "langfuse_host",
    "langfuse_public_key",
    "langfuse_secret",
    "langfuse_secret_key",
    "langsmith_api_key",
    "langsmith_base_url",
    "litellm_credential_name",
    "litellm_params",
    "organization",
    "posthog_api_key",
    "posthog_api_url",
    "provider_specific_header",
    "region_name",
    "s3_access_key_id",
    "s3_endpoint_url",
    "s3_region_name",
    "s3_secret_access_key",
    "ssl_verify",
    "tenant_id",
    "use_litellm_proxy",
    "user_config",
    "vertex_ai_credentials",
    "vertex_ai_location",
    "vertex_ai_project",
    "vertex_credentials",
    "vertex_location",
    "vertex_project",
    "watsonx_region_name",
];

/// The steering field `key` names, compared without case, `_` or `-`.
pub fn steering_field(key: &str) -> Option<&'static str> {
    let i = STEERING_FIELDS
        .binary_search_by(|field| folded(field).cmp(folded(key)))
        .ok()?;
    STEERING_FIELDS.get(i).copied()
}

/// A name as LiteLLM-style matching sees it: ASCII lower case, no `_` or `-`.
fn folded(name: &str) -> impl Iterator<Item = u8> + '_ {
    name.bytes()
        .filter(|b| !matches!(b, b'_' | b'-'))
        .map(|b| b.to_ascii_lowercase())
}

/// Reads the whole body within `limits`: at most `max` bytes (a declared
/// `content-length` over it is refused before reading), within the body
/// timeout, and only while the shared budget for buffered bodies has room
/// for it and its upstream copy. The bytes hold their share of the budget
/// until dropped.
pub async fn read_body(
    mut body: Incoming,
    headers: &HeaderMap,
    max: usize,
    limits: &BodyLimits,
) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let declared = match declared.map(usize::try_from) {
        Some(Ok(n)) if n <= max => n,
        Some(_) => return Err(GatewayError::BodyTooLarge { limit: max }),
        None => 0,
    };
    let busy = || GatewayError::BodyBudget { budget: limits.total() };
    let mut share = limits.share();
    // A declared length is taken in one allocation of exactly that size.
    if !share.cover(with_copy(declared)) {
        return Err(busy());
    }
    let mut buf = Vec::with_capacity(declared);
    let deadline = tokio::time::Instant::now() + limits.timeout;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                return Err(GatewayError::BodyTimeout {
                    seconds: limits.timeout.as_secs(),
                })
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(GatewayError::BodyRead),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        if buf.len().saturating_add(data.len()) > max {
            return Err(GatewayError::BodyTooLarge { limit: max });
        }
        grow(&mut buf, data.len(), max);
        if !share.cover(with_copy(buf.capacity())) {
            return Err(busy());
        }
        buf.extend_from_slice(&data);
    }
    Ok(share.attach(buf))
}

/// What a body of `bytes` counts against the budget: itself, and the copy
/// sent upstream when the model name is rewritten (`upstream_body`), which
/// lives about as long.
fn with_copy(bytes: usize) -> usize {
    bytes.saturating_mul(2)
}

/// Makes room for `more` bytes: doubling, as `Vec` does, but never past
/// `max`, so the budget counts no capacity a body cannot use.
fn grow(buf: &mut Vec<u8>, more: usize, max: usize) {
    let need = buf.len().saturating_add(more);
    if need > buf.capacity() {
        let target = buf.capacity().saturating_mul(2).max(need).min(max.max(need));
        buf.reserve_exact(target - buf.len());
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
    validate::validate(body).map_err(|e| GatewayError::InvalidJson(e.to_string()))?;
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
    let Some(include_usage) = include_usage else {
        return StreamOptions::NoUsage {
            open: span.0 + 1,
            empty: fields == 0,
        };
    };
    match include_usage.get() {
        "true" => StreamOptions::UsageOn,
        "false" | "null" => StreamOptions::UsageOff(span_in(body, include_usage)),
        _ => StreamOptions::Other,
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
    let model = (body.get(span.0..span.1) != Some(upstream_model_json.as_bytes())).then_some(Splice {
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

/// Applies splices sorted by position and not overlapping. The spans come
/// from `peek` of this body, so every range taken here is inside it.
fn apply(body: &Bytes, splices: &[Splice]) -> Bytes {
    let grow: usize = splices.iter().map(|s| s.with.len()).sum();
    let mut out = BytesMut::with_capacity(body.len() + grow);
    let mut at = 0;
    for s in splices {
        out.extend_from_slice(body.get(at..s.span.0).unwrap_or_default());
        out.extend_from_slice(s.with);
        at = s.span.1;
    }
    out.extend_from_slice(body.get(at..).unwrap_or_default());
    out.freeze()
}

const FORBIDDEN: &str = "forbidden field ";

fn forbidden_name(message: &str) -> &'static str {
    let name = message.get(FORBIDDEN.len()..).unwrap_or_default();
    let name = name.split_whitespace().next().unwrap_or_default();
    steering_field(name).unwrap_or("api_base")
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
                    other => steering_field(other).map_or(Key::Other, Key::Forbidden),
                })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

mod budget;
mod validate;

pub use budget::BodyLimits;
pub use validate::MAX_DEPTH;

#[cfg(test)]
mod tests;
