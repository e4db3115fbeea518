//! The request body reader and its splice: `peek` on any bytes never panics,
//! and whenever it accepts a JSON body, `upstream_body` sends valid JSON whose
//! `model` is the deployment's and whose other members are byte for byte the
//! client's (with only `stream_options` changed when usage is asked for).

use std::fmt;

use bytes::Bytes;
use proptest::prelude::*;
use proptest::sample::select;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use tollgate::providers::Endpoint;
use tollgate::request::{peek, upstream_body, StreamOptions};

use crate::{cases, within, HANG};

/// JSON whitespace between tokens: mostly none, sometimes a little of each kind.
pub fn ws() -> impl Strategy<Value = String> {
    prop_oneof![3 => Just(String::new()), 1 => "[ \t\r\n]{1,3}"]
}

/// A JSON string literal for `text`, each character written plainly or
/// escaped (`\u` for any, a surrogate pair beyond the BMP, `\/`).
fn literal(text: &str, escape: &[bool]) -> String {
    let mut out = String::from("\"");
    for (i, c) in text.chars().enumerate() {
        let escaped = escape.get(i % escape.len().max(1)).copied().unwrap_or(false);
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if escaped => out.push_str("\\/"),
            c if (c as u32) < 0x20 || escaped => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn string_literal() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        "[a-z0-9/:._-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(10).collect()),
        select(vec![
            "model",
            "\"model\":",
            "stream",
            "é",
            "🦀",
            "a\u{2028}b",
            "\\",
            "\u{0}"
        ])
        .prop_map(str::to_owned),
    ];
    (text, proptest::collection::vec(any::<bool>(), 0..4)).prop_map(|(t, e)| literal(&t, &e))
}

/// Any JSON value as text, nested a few levels, with whitespace inside.
pub fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        select(vec![
            "null",
            "true",
            "false",
            "0",
            "-0",
            "1e400",
            "-1.5E-3",
            "123456789012345678901234567890"
        ])
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        string_literal(),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec((ws(), inner.clone(), ws()), 0..4)
                .prop_map(|items| format!("[{}]", join(items.into_iter().map(|(a, v, b)| format!("{a}{v}{b}"))))),
            proptest::collection::vec((key(), ws(), inner), 0..4).prop_map(|members| format!(
                "{{{}}}",
                join(members.into_iter().map(|(k, w, v)| format!("{k}:{w}{v}")))
            )),
        ]
    })
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

/// A member name: the ones `peek` looks for (sometimes escaped), others, and
/// ones only a careless comparison would confuse with them.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "\"model\"",
            "\"mod\\u0065l\"",
            "\"stream\"",
            "\"stream_options\"",
            "\"stre\\u0061m_options\"",
            "\"include_usage\"",
            "\"messages\"",
            "\"Model\"",
            "\"model \"",
            "\"\"",
            "\"temperature\"",
            "\"input\"",
        ])
        .prop_map(str::to_owned),
        string_literal(),
    ]
}

/// A value for `stream_options`, in each shape `peek` tells apart.
fn stream_options_value() -> impl Strategy<Value = String> {
    let usage = select(vec!["true", "false", "null", "1", "\"yes\""]);
    prop_oneof![
        select(vec![
            "null",
            "{}",
            "{ }",
            "[]",
            "\"x\"",
            "{\"include_usage\":true,\"include_usage\":false}"
        ])
        .prop_map(str::to_owned),
        (ws(), usage.clone(), ws()).prop_map(|(a, u, b)| format!("{{{a}\"include_usage\"{b}:{a}{u}{b}}}")),
        (value(), usage).prop_map(|(v, u)| format!("{{\"other\":{v},\"include_usage\":{u}}}")),
        value().prop_map(|v| format!("{{\"continuous_usage_stats\":{v}}}")),
    ]
}

/// A request body: members in any order and number, around one `model`.
fn body() -> impl Strategy<Value = String> {
    let model = prop_oneof![8 => string_literal(), 1 => value()];
    let stream = select(vec!["true", "false", "null", "1", "\"true\""]).prop_map(str::to_owned);
    let member = prop_oneof![
        3 => (key(), value()),
        2 => (Just("\"stream\"".to_owned()), stream),
        2 => (Just("\"stream_options\"".to_owned()), stream_options_value()),
        1 => (Just("\"model\"".to_owned()), string_literal()),
    ];
    (
        proptest::collection::vec((ws(), member, ws(), ws()), 0..6),
        any::<prop::sample::Index>(),
        model,
        ws(),
    )
        .prop_map(|(mut members, at, model, outer)| {
            let at = at.index(members.len() + 1);
            members.insert(
                at,
                (
                    String::new(),
                    ("\"model\"".to_owned(), model),
                    String::new(),
                    String::new(),
                ),
            );
            let text = members
                .into_iter()
                .map(|(a, (k, v), b, c)| format!("{a}{k}{b}:{c}{v}{a}"))
                .collect::<Vec<_>>()
                .join(",");
            format!("{outer}{{{text}}}{outer}")
        })
}

/// The top-level members of a JSON object, in order: decoded name and the
/// value's exact text.
fn members(json: &[u8]) -> Vec<(String, String)> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, &RawValue>()? {
                out.push((k, v.get().to_owned()));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    de.deserialize_map(Members).expect("an object")
}

/// Checks the body sent upstream for one accepted request.
fn check_upstream(body: &Bytes, endpoint: Endpoint, upstream_model: &str) -> Result<(), TestCaseError> {
    let peeked = peek(body).expect("accepted");
    let model_json = serde_json::to_string(upstream_model).expect("a string encodes");
    let (out, injected) = upstream_body(body, &peeked, endpoint, &model_json);
    // JSON's grammar, not serde_json's number range: `1e400` is valid JSON.
    let valid = std::str::from_utf8(&out).is_ok() && serde_json::from_slice::<IgnoredAny>(&out).is_ok();
    prop_assert!(valid, "upstream body is not JSON: {}", String::from_utf8_lossy(&out));
    let again = peek(&out).map_err(|e| TestCaseError::fail(format!("peek refuses what it sent: {e:?}")))?;
    prop_assert_eq!(&again.model, upstream_model);
    prop_assert_eq!(again.stream, peeked.stream);

    let wants_usage = peeked.stream && matches!(endpoint, Endpoint::ChatCompletions | Endpoint::Completions);
    let turns_on = matches!(
        peeked.stream_options,
        StreamOptions::Absent | StreamOptions::Null(_) | StreamOptions::NoUsage { .. } | StreamOptions::UsageOff(_)
    );
    prop_assert_eq!(injected, wants_usage && turns_on);
    if injected {
        prop_assert_eq!(again.stream_options, StreamOptions::UsageOn);
    }

    // Member by member: only `model`, and `stream_options` when usage was
    // turned on, differ from what the client sent.
    let (before, after) = (members(body), members(&out));
    let mut expected = before.clone();
    for (k, v) in expected.iter_mut() {
        if k == "model" {
            *v = model_json.clone();
        }
    }
    let is_options = |m: &(String, String)| m.0 == "stream_options";
    let strip =
        |ms: &[(String, String)]| -> Vec<(String, String)> { ms.iter().filter(|m| !is_options(m)).cloned().collect() };
    prop_assert_eq!(strip(&after), strip(&expected));
    let options =
        |ms: &[(String, String)]| -> Vec<String> { ms.iter().filter(|m| is_options(m)).map(|m| m.1.clone()).collect() };
    let (was, now) = (options(&before), options(&after));
    match (injected, peeked.stream_options) {
        (false, _) => prop_assert_eq!(&now, &was),
        (true, StreamOptions::Absent) => prop_assert_eq!(now, vec![r#"{"include_usage":true}"#.to_owned()]),
        (true, options) => {
            // The last one (the one a parser keeps) now asks for usage;
            // any earlier ones are untouched.
            prop_assert_eq!(now.len(), was.len());
            prop_assert_eq!(&now[..now.len() - 1], &was[..was.len() - 1]);
            let (was, now) = (&was[was.len() - 1], &now[now.len() - 1]);
            let on = ("include_usage".to_owned(), "true".to_owned());
            let want = match options {
                StreamOptions::Null(_) => vec![on],
                StreamOptions::NoUsage { .. } => [vec![on], members(was.as_bytes())].concat(),
                _ => {
                    let mut want = members(was.as_bytes());
                    let last = want
                        .iter()
                        .rposition(|m| m.0 == "include_usage")
                        .expect("include_usage");
                    want[last] = on;
                    want
                }
            };
            prop_assert_eq!(members(now.as_bytes()), want);
        }
    }
    Ok(())
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    select(Endpoint::ALL.to_vec())
}

proptest! {
    #![proptest_config(cases(512))]

    /// Generated bodies: whenever `peek` accepts, the splice is exact.
    #[test]
    fn an_accepted_body_goes_upstream_with_only_the_model_changed(
        body in body(),
        endpoint in endpoint(),
        // The config refuses an empty upstream model name.
        upstream in prop_oneof!["[a-z0-9/._-]{1,20}", any::<String>().prop_filter("not empty", |s| !s.is_empty())],
    ) {
        let body = Bytes::from(body);
        let ok = within(HANG, {
            let body = body.clone();
            move || peek(&body).is_ok()
        });
        if ok {
            check_upstream(&body, endpoint, &upstream)?;
        }
    }

    /// Generated bodies cut, flipped or grown: no panic, and the splice is
    /// exact whenever the damaged body is still JSON that `peek` accepts.
    #[test]
    fn a_damaged_body_is_refused_or_spliced_exactly(
        body in body(),
        damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
        endpoint in endpoint(),
    ) {
        let mut bytes = body.into_bytes();
        for (at, byte, how) in damage {
            let i = at.index(bytes.len() + 1);
            match how {
                0 => bytes.truncate(i),
                1 if i < bytes.len() => bytes[i] = byte,
                _ => bytes.insert(i, byte),
            }
        }
        let body = Bytes::from(bytes);
        let accepted = within(HANG, {
            let body = body.clone();
            move || peek(&body).is_ok()
        });
        let json = std::str::from_utf8(&body).is_ok() && serde_json::from_slice::<IgnoredAny>(&body).is_ok();
        if accepted && json {
            check_upstream(&body, endpoint, "upstream-model")?;
        }
    }

    /// Any bytes at all: `peek` answers, and an accepted body can be spliced.
    #[test]
    fn peek_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let body = Bytes::from(bytes);
        within(HANG, move || {
            if let Ok(p) = peek(&body) {
                for endpoint in Endpoint::ALL {
                    let _ = upstream_body(&body, &p, endpoint, "\"m\"");
                }
            }
        });
    }
}

/// What `peek` accepts is JSON: a body the provider's parser would refuse
/// must not reach it (and cost the deployment a failure). The damaged-body
/// property checks the splice only for bodies that are JSON; this test holds
/// what `peek` lets through until the body validation of issue 11 lands.
#[test]
fn peek_refuses_a_body_that_is_not_json() {
    let deep = format!(r#"{{"model":"m","x":{}1{}}}"#, "[".repeat(129), "]".repeat(129));
    let accepted: Vec<String> = [
        &b"{\"model\":\"m\",\"messages\":\"\xff\xfe\"}"[..],
        &b"{\"model\":\"m\",\"\xc3\":1}"[..],
        deep.as_bytes(),
    ]
    .into_iter()
    .filter(|body| peek(body).is_ok())
    .map(|body| String::from_utf8_lossy(body).chars().take(40).collect())
    .collect();
    assert!(accepted.is_empty(), "accepted {accepted:?}");
}
