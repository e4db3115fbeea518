//! Request defaults from a deployment's `litellm_params` (`max_tokens`,
//! `temperature`, ...): each one the client did not send is inserted at the
//! top of the body, in the upstream's format, and the rest of the body
//! stays as it came.

use std::fmt;

use bytes::{Bytes, BytesMut};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::default_formats::{restate, TARGETS};
use crate::protocol::Format;
use crate::providers::Endpoint;

/// One default: its top-level key and the JSON member to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDefault {
    /// The field name (`max_tokens`).
    pub key: Box<str>,
    /// `"max_tokens":256`, ready to splice.
    pub member: Box<str>,
}

impl RequestDefault {
    /// The default for `key` set to `value`.
    pub fn new(key: &str, value: &Value) -> RequestDefault {
        let member = format!("{}:{value}", Value::from(key));
        RequestDefault {
            key: key.into(),
            member: member.into(),
        }
    }
}

/// A deployment's defaults, restated once at load for each format a body
/// may go upstream in.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RequestDefaults {
    /// By `TARGETS`: every default in that format, in key order.
    all: [Vec<RequestDefault>; 4],
    /// By `TARGETS`: the same without `extra_body`'s members, for a client's
    /// body before it is translated (the members are the upstream's own).
    named: [Vec<RequestDefault>; 4],
}

impl RequestDefaults {
    /// From `litellm_params` fields in key order, `(key, value, from extra_body)`.
    /// A field a format has no place for is left out of that format's
    /// list; when two fields land on one key there, the first wins.
    pub fn new(fields: &[(String, Value, bool)]) -> RequestDefaults {
        let mut out = RequestDefaults::default();
        for (i, target) in TARGETS.into_iter().enumerate() {
            for (key, value, extra) in fields {
                let Some((key, value)) = restate(target, key, value, *extra) else {
                    continue;
                };
                let default = RequestDefault::new(&key, &value);
                if let Some(all) = out.all.get_mut(i).filter(|l| !l.iter().any(|d| d.key == default.key)) {
                    all.push(default.clone());
                    if !extra {
                        out.named
                            .get_mut(i)
                            .into_iter()
                            .for_each(|named| named.push(default.clone()));
                    }
                }
            }
        }
        out
    }

    /// Every default for a body going to `endpoint` (none for embeddings
    /// and token counts).
    pub fn for_upstream(&self, endpoint: Endpoint) -> &[RequestDefault] {
        Self::pick(&self.all, endpoint)
    }

    /// The defaults a client's body in `format` takes before it is
    /// translated, so the translation carries them (a chat client's missing
    /// `max_tokens` becomes Anthropic's `max_tokens`, not the model's limit).
    pub fn for_client(&self, format: Format) -> &[RequestDefault] {
        Self::pick(&self.named, Endpoint::of_format(format))
    }

    fn pick(table: &[Vec<RequestDefault>; 4], endpoint: Endpoint) -> &[RequestDefault] {
        TARGETS
            .iter()
            .position(|t| *t == endpoint)
            .and_then(|i| table.get(i))
            .map_or(&[], Vec::as_slice)
    }
}

/// Keys that mean the same limit: a body with one takes no default for the other.
const SAME_LIMIT: [&str; 2] = ["max_tokens", "max_completion_tokens"];

/// Whether `key` (or its synonym) is among `present`.
fn has(present: &[String], key: &str) -> bool {
    let synonyms: &[&str] = if SAME_LIMIT.contains(&key) { &SAME_LIMIT } else { &[] };
    present.iter().any(|k| k == key || synonyms.contains(&k.as_str()))
}

/// `with_defaults` for a translated body: a default is also skipped when
/// the client's own body (`sent`) has its key, so a field the translation
/// could not carry is not replaced by the default.
pub fn with_defaults_unless_sent(body: Bytes, defaults: &[RequestDefault], sent: &[u8]) -> Bytes {
    if defaults.is_empty() {
        return body;
    }
    let Some(sent) = top_level_keys(sent) else {
        return body;
    };
    let left: Vec<RequestDefault> = defaults.iter().filter(|d| !has(&sent, &d.key)).cloned().collect();
    with_defaults(body, &left)
}

/// The body with every default whose key the body lacks inserted after its
/// opening `{`; the body itself when nothing is missing or it is not an object.
pub fn with_defaults(body: Bytes, defaults: &[RequestDefault]) -> Bytes {
    if defaults.is_empty() {
        return body;
    }
    let Some(present) = top_level_keys(&body) else {
        return body;
    };
    let missing: Vec<&RequestDefault> = defaults.iter().filter(|d| !has(&present, &d.key)).collect();
    let Some(open) = body.iter().position(|b| *b == b'{') else {
        return body;
    };
    if missing.is_empty() {
        return body;
    }
    let (head, rest) = body.split_at(open + 1);
    let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let grow: usize = missing.iter().map(|d| d.member.len() + 1).sum();
    let mut out = BytesMut::with_capacity(body.len() + grow);
    out.extend_from_slice(head);
    for (i, d) in missing.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(d.member.as_bytes());
    }
    if !empty {
        out.extend_from_slice(b",");
    }
    out.extend_from_slice(rest);
    out.freeze()
}

/// The top-level keys of a JSON object, values skipped unparsed.
fn top_level_keys(body: &[u8]) -> Option<Vec<String>> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                keys.push(key);
            }
            Ok(keys)
        }
    }
    serde_json::Deserializer::from_slice(body).deserialize_map(Keys).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaults() -> Vec<RequestDefault> {
        vec![
            RequestDefault::new("max_tokens", &json!(256)),
            RequestDefault::new("temperature", &json!(0.2)),
            RequestDefault::new("stop", &json!(["\n\n"])),
        ]
    }

    #[test]
    fn only_missing_fields_are_inserted_and_the_rest_stays_bytes() {
        let body = Bytes::from_static(br#"{"model":"m",  "temperature" : 1,"x":{"max_tokens":9}}"#);
        let out = with_defaults(body, &defaults());
        assert_eq!(
            &out[..],
            br#"{"max_tokens":256,"stop":["\n\n"],"model":"m",  "temperature" : 1,"x":{"max_tokens":9}}"#
        );
    }

    #[test]
    fn one_limit_blocks_its_synonym_and_the_client_s_own_fields_win() {
        let limits = vec![RequestDefault::new("max_tokens", &json!(256))];
        let body = Bytes::from_static(br#"{"max_completion_tokens":5}"#);
        assert_eq!(with_defaults(body.clone(), &limits), body);
        let translated = Bytes::from_static(br#"{"model":"m"}"#);
        let out = with_defaults_unless_sent(translated, &defaults(), br#"{"stop":"x"}"#);
        assert_eq!(&out[..], br#"{"max_tokens":256,"temperature":0.2,"model":"m"}"#);
    }

    #[test]
    fn each_format_gets_its_own_list_and_extra_body_only_upstream() {
        let fields = vec![
            ("top_k".to_string(), json!(5), true),
            ("max_completion_tokens".to_string(), json!(100), false),
            ("max_tokens".to_string(), json!(200), false),
            ("seed".to_string(), json!(7), false),
            ("stop".to_string(), json!("END"), false),
        ];
        let d = RequestDefaults::new(&fields);
        let keys = |list: &[RequestDefault]| list.iter().map(|d| d.member.to_string()).collect::<Vec<_>>();
        assert_eq!(
            keys(d.for_upstream(Endpoint::Messages)),
            [r#""top_k":5"#, r#""max_tokens":100"#, r#""stop_sequences":["END"]"#]
        );
        assert_eq!(
            keys(d.for_upstream(Endpoint::Responses)),
            [r#""top_k":5"#, r#""max_output_tokens":100"#]
        );
        assert_eq!(keys(d.for_client(Format::Responses)), [r#""max_output_tokens":100"#]);
        assert_eq!(d.for_upstream(Endpoint::ChatCompletions).len(), 5);
        assert!(d.for_upstream(Endpoint::Embeddings).is_empty());
    }

    #[test]
    fn nothing_missing_or_no_object_leaves_the_body_alone() {
        let body = Bytes::from_static(br#"{"max_tokens":1,"temperature":0,"stop":null}"#);
        assert_eq!(with_defaults(body.clone(), &defaults()), body);
        let not_json = Bytes::from_static(b"[1,2]");
        assert_eq!(with_defaults(not_json.clone(), &defaults()), not_json);
        let empty = with_defaults(Bytes::from_static(b" { } "), &defaults()[..1]);
        assert_eq!(&empty[..], br#" {"max_tokens":256 } "#);
    }
}
