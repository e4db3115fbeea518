//! Usage read from the end of a JSON answer: on valid JSON with one
//! top-level `usage`, `parse_answer_usage` (which looks only at the end)
//! reads what `parse_usage` (a whole parse) reads.

use proptest::prelude::*;
use proptest::sample::select;
use tollgate::spend::{parse_answer_usage, parse_usage};

use crate::cases;
use crate::request::{key, value, ws};

/// A `usage` value: token counts under OpenAI's or Anthropic's names, with
/// details, or none at all.
fn usage() -> impl Strategy<Value = String> {
    let count = prop_oneof![0u64..100_000, Just(u64::MAX)].prop_map(|n| n.to_string());
    let field = select(vec![
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    ]);
    let details = (
        select(vec!["prompt_tokens_details", "completion_tokens_details"]),
        count.clone(),
    )
        .prop_map(|(k, n)| format!(r#""{k}":{{"cached_tokens":{n},"reasoning_tokens":{n}}}"#));
    let member = prop_oneof![3 => (field, count).prop_map(|(k, n)| format!(r#""{k}":{n}"#)), 1 => details];
    prop_oneof![
        8 => (proptest::collection::vec(member, 0..5), ws()).prop_map(|(ms, w)| format!("{{{w}{}{w}}}", ms.join(","))),
        1 => Just("null".to_owned()),
    ]
}

/// Members that look like usage without being the top-level one.
fn decoy() -> impl Strategy<Value = (String, String)> {
    select(vec![
        (r#""x""#, r#"{"usage":{"prompt_tokens":5}}"#),
        (r#""y""#, r#"["usage",{"usage":{"completion_tokens":6}}]"#),
        (r#""z""#, r#""\"usage\":{\"prompt_tokens\":7}""#),
        (r#""w""#, r#""usage""#),
    ])
    .prop_map(|(k, v)| (k.to_owned(), v.to_owned()))
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn usage_read_from_the_end_matches_a_whole_parse(
        members in proptest::collection::vec(prop_oneof![3 => (key(), value()), 1 => decoy()], 0..6),
        at in any::<prop::sample::Index>(),
        usage in usage(),
        (a, b, c) in (ws(), ws(), ws()),
    ) {
        let mut members: Vec<String> = members.into_iter().map(|(k, v)| format!("{a}{k}{b}:{c}{v}")).collect();
        members.insert(at.index(members.len() + 1), format!(r#"{b}"usage"{a}:{c}{usage}{a}"#));
        let body = format!("{a}{{{}}}{c}", members.join(","));
        // Only bodies with one top-level `usage` and no `response` member.
        let tops: Vec<String> = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&body)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        prop_assume!(!tops.iter().any(|k| k == "response"));
        prop_assert_eq!(parse_answer_usage(body.as_bytes()), parse_usage(body.as_bytes()), "{}", body);
    }
}
