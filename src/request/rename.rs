//! Renames top-level request fields a provider knows by another name
//! (LiteLLM's `param_mappings`: `max_completion_tokens` as `max_tokens`),
//! leaving every value's bytes as they came.

use std::fmt;

use bytes::{Bytes, BytesMut};
use memchr::memmem;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The body with each `(from, to)` field renamed; the body itself when none
/// is present (checked on the bytes first, so most bodies are not parsed)
/// or it is not a JSON object. When the body has both names, the renamed
/// field wins and the other is dropped, as LiteLLM's mapping overwrites it.
pub fn renamed(body: Bytes, renames: &[(&str, &str)]) -> Bytes {
    let quoted = |key: &str| format!("\"{key}\"");
    if !renames
        .iter()
        .any(|(from, _)| memmem::find(&body, quoted(from).as_bytes()).is_some())
    {
        return body;
    }
    let Some(members) = members(&body) else {
        return body;
    };
    let rename = |key: &str| renames.iter().find(|(from, _)| *from == key).map(|(_, to)| *to);
    if !members.iter().any(|(key, _)| rename(key).is_some()) {
        return body;
    }
    let mut out = BytesMut::with_capacity(body.len() + 16);
    out.extend_from_slice(b"{");
    let mut first = true;
    for (key, value) in &members {
        // A field some renamed field becomes is dropped.
        let replaced = members.iter().any(|(other, _)| rename(other) == Some(key.as_str()));
        if replaced {
            continue;
        }
        if !first {
            out.extend_from_slice(b",");
        }
        first = false;
        let name = rename(key).unwrap_or(key);
        out.extend_from_slice(serde_json::to_string(name).unwrap_or_default().as_bytes());
        out.extend_from_slice(b":");
        out.extend_from_slice(value.get().as_bytes());
    }
    out.extend_from_slice(b"}");
    out.freeze()
}

/// The top-level members of a JSON object: each key and its value's raw text.
fn members(body: &[u8]) -> Option<Vec<(String, &RawValue)>> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                out.push((key, value));
            }
            Ok(out)
        }
    }
    serde_json::Deserializer::from_slice(body).deserialize_map(Members).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MISTRAL: &[(&str, &str)] = &[("max_completion_tokens", "max_tokens"), ("seed", "random_seed")];

    #[test]
    fn present_fields_are_renamed_and_values_keep_their_bytes() {
        let body = Bytes::from_static(br#"{"model":"m","max_completion_tokens":  64,"x":{"seed":1},"seed":7}"#);
        assert_eq!(
            &renamed(body, MISTRAL)[..],
            br#"{"model":"m","max_tokens":64,"x":{"seed":1},"random_seed":7}"#
        );
    }

    #[test]
    fn the_renamed_field_wins_over_the_target_name() {
        let body = Bytes::from_static(br#"{"max_tokens":1,"max_completion_tokens":2}"#);
        assert_eq!(&renamed(body, MISTRAL)[..], br#"{"max_tokens":2}"#);
    }

    #[test]
    fn bodies_without_the_fields_are_untouched() {
        for body in [
            &br#"{"model":"m",  "max_tokens": 5}"#[..],
            br#"{"messages":[{"content":"the \"seed\" word"}]}"#,
            b"not json \"seed\"",
        ] {
            let body = Bytes::copy_from_slice(body);
            assert_eq!(renamed(body.clone(), MISTRAL), body);
        }
        assert_eq!(
            renamed(Bytes::from_static(br#"{"seed":1}"#), &[]),
            Bytes::from_static(br#"{"seed":1}"#)
        );
    }
}
