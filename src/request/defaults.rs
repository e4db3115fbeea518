//! Request defaults from a deployment's `litellm_params` (`max_tokens`,
//! `temperature`, ...): each one the client did not send is inserted at the
//! top of the body, and the rest of the body stays as it came.

use std::fmt;

use bytes::{Bytes, BytesMut};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

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
    pub fn new(key: &str, value: &serde_json::Value) -> RequestDefault {
        let member = format!("{}:{value}", serde_json::Value::from(key));
        RequestDefault {
            key: key.into(),
            member: member.into(),
        }
    }
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
    let missing: Vec<&RequestDefault> = defaults
        .iter()
        .filter(|d| !present.iter().any(|k| **k == *d.key))
        .collect();
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
    fn nothing_missing_or_no_object_leaves_the_body_alone() {
        let body = Bytes::from_static(br#"{"max_tokens":1,"temperature":0,"stop":null}"#);
        assert_eq!(with_defaults(body.clone(), &defaults()), body);
        let not_json = Bytes::from_static(b"[1,2]");
        assert_eq!(with_defaults(not_json.clone(), &defaults()), not_json);
        let empty = with_defaults(Bytes::from_static(b" { } "), &defaults()[..1]);
        assert_eq!(&empty[..], br#" {"max_tokens":256 } "#);
    }
}
