//! The request body: read it within the size limit, find `model` (and
//! `stream`) without building a JSON tree, refuse fields that would steer the
//! gateway, and splice in the upstream model name without re-serialising.

use std::fmt;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::GatewayError;

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
    // RawValue borrows from `body`, so its offset is found by address.
    let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
    Ok(Peek {
        model,
        model_span: (start, start + raw.get().len()),
        stream: found.stream.unwrap_or(false),
    })
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

/// Replaces the `model` value with `upstream_json` (a JSON string literal).
/// Returns the body unchanged, without copying, when the name is the same.
pub fn rewrite_model(body: &Bytes, span: (usize, usize), upstream_json: &str) -> Bytes {
    if &body[span.0..span.1] == upstream_json.as_bytes() {
        return body.clone();
    }
    let mut out = BytesMut::with_capacity(body.len() - (span.1 - span.0) + upstream_json.len());
    out.extend_from_slice(&body[..span.0]);
    out.extend_from_slice(upstream_json.as_bytes());
    out.extend_from_slice(&body[span.1..]);
    out.freeze()
}

struct Found<'a> {
    model: Option<&'a RawValue>,
    stream: Option<bool>,
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
        };
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Model if found.model.is_some() => return Err(de::Error::custom("duplicate field `model`")),
                Key::Model => found.model = Some(map.next_value()?),
                Key::Stream => {
                    found.stream = map.next_value::<Option<bool>>()?;
                }
                Key::Forbidden(name) => return Err(de::Error::custom(format_args!("{FORBIDDEN}{name}"))),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// A top-level key, classified without allocating.
enum Key {
    Model,
    Stream,
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
mod tests {
    use super::*;

    #[test]
    fn steering_fields_are_sorted_for_binary_search() {
        assert!(STEERING_FIELDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn finds_model_and_stream_and_rewrites_only_model() {
        let body = Bytes::from_static(
            br#"{"messages":[{"role":"user","content":"hi","model":"inner"}],"model":"kimi-code","stream":true,"tools":[{"x":1}]}"#,
        );
        let p = peek(&body).unwrap();
        assert_eq!(p.model, "kimi-code");
        assert!(p.stream);
        let out = rewrite_model(&body, p.model_span, "\"kimi-for-coding\"");
        let expected = br#"{"messages":[{"role":"user","content":"hi","model":"inner"}],"model":"kimi-for-coding","stream":true,"tools":[{"x":1}]}"#;
        assert_eq!(&out[..], &expected[..]);
    }

    #[test]
    fn same_name_is_not_copied() {
        let body = Bytes::from_static(br#"{ "model" : "m" }"#);
        let p = peek(&body).unwrap();
        let out = rewrite_model(&body, p.model_span, "\"m\"");
        assert_eq!(out.as_ptr(), body.as_ptr());
    }

    #[test]
    fn escaped_model_names_are_decoded() {
        let p = peek(br#"{"model":"a\/b\u0041"}"#).unwrap();
        assert_eq!(p.model, "a/bA");
    }

    #[test]
    fn bad_bodies_are_refused_with_the_right_error() {
        assert!(matches!(peek(b"{"), Err(GatewayError::InvalidJson(_))));
        assert!(matches!(peek(b"[1]"), Err(GatewayError::InvalidJson(_))));
        assert!(matches!(peek(b"{} x"), Err(GatewayError::InvalidJson(_))));
        assert!(matches!(peek(b"{}"), Err(GatewayError::MissingModel)));
        assert!(matches!(peek(br#"{"model":""}"#), Err(GatewayError::MissingModel)));
        assert!(matches!(peek(br#"{"model":5}"#), Err(GatewayError::MissingModel)));
        assert!(matches!(
            peek(br#"{"model":"a","model":"b"}"#),
            Err(GatewayError::InvalidJson(_))
        ));
        assert!(matches!(
            peek(br#"{"model":"a","stream":"yes"}"#),
            Err(GatewayError::InvalidJson(_))
        ));
        assert!(matches!(
            peek(br#"{"model":"a","api_base":"http://evil"}"#),
            Err(GatewayError::ForbiddenField("api_base"))
        ));
        assert!(matches!(
            peek(br#"{"base_url":"x","model":"a"}"#),
            Err(GatewayError::ForbiddenField("base_url"))
        ));
    }
}
