//! YAML text to a JSON value, with every parse or type error told by its place
//! and kind only: a config's text holds keys and credentials, and these
//! messages reach the log and the unauthenticated readiness endpoint.

use serde_json::Value;
use serde_saphyr::Error;

use super::Problem;

/// Parses the whole file. The error names line and column and says what kind
/// of mistake it is, never what the line holds. A key repeated in one mapping
/// keeps its last value, as PyYAML (LiteLLM's parser) does, with a warning
/// naming the first repeat's place.
pub(super) fn parse(text: &str) -> Result<(Value, Option<String>), Problem> {
    match parse_with(text, serde_saphyr::options::DuplicateKeyPolicy::Error) {
        Err(problem) if problem.message == DUPLICATE => {
            let value = parse_with(text, serde_saphyr::options::DuplicateKeyPolicy::LastWins)?;
            let warning = format!("{}: {DUPLICATE}; the last one wins, as in LiteLLM", problem.at);
            Ok((value, Some(warning)))
        }
        other => other.map(|value| (value, None)),
    }
}

const DUPLICATE: &str = "a key appears twice in the same mapping";

fn parse_with(text: &str, duplicates: serde_saphyr::options::DuplicateKeyPolicy) -> Result<Value, Problem> {
    let mut options = serde_saphyr::options::Options::default();
    // `yes`/`on` stay strings: only `true`/`false` are booleans.
    options.strict_booleans = true;
    // The snippet is the file's own text around the mistake; never render it.
    options.with_snippet = false;
    options.duplicate_keys = duplicates;
    // `.nan`, `.inf` and `1e999` arrive as strings, so the key they sit
    // under refuses them by name instead of the parser by line.
    options.non_finite_float_policy = serde_saphyr::options::NonFiniteFloatPolicy::AsString;
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| {
        let at = match e.location() {
            Some(l) if l.line() > 0 => format!("yaml line {}, column {}", l.line(), l.column()),
            _ => "yaml".to_string(),
        };
        Problem {
            at,
            message: kind(&e).to_string(),
        }
    })
}

/// What went wrong, from the error's variant alone. Variants that carry text
/// (messages, offending scalars, keys) are told without it.
fn kind(error: &Error) -> &'static str {
    match error {
        Error::WithSnippet { error, .. } => kind(error),
        Error::AliasError { error, .. } => kind(error),
        Error::Eof { .. } => "the file ends in the middle of a value",
        Error::MultipleDocuments { .. } => "holds more than one YAML document (`---`)",
        Error::DuplicateMappingKey { .. } => DUPLICATE,
        Error::NonFiniteFloat { .. } => "a number is not finite (NaN, infinity, or too large for a float)",
        Error::InvalidUtf8Input => "the file is not UTF-8",
        Error::UnknownAnchor { .. } => "an alias (`*name`) refers to no anchor",
        Error::AliasReplayCounterOverflow { .. }
        | Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. }
        | Error::Budget { .. } => "the document expands beyond the parser's limits (aliases or nesting)",
        Error::IndentationError { .. } => "wrong indentation",
        Error::MergeValueNotMapOrSeqOfMaps { .. } | Error::MergeKeyNotAllowed { .. } => {
            "a merge key (`<<`) must merge mappings"
        }
        Error::UnsupportedTag { .. } | Error::TaggedScalarCannotDeserializeIntoString { .. } => {
            "a tag (`!name`) tollgate does not read"
        }
        // Syntax errors from the scanner and parser; their text may quote the line.
        _ => "invalid YAML syntax (an unclosed quote or bracket, a missing `:`, or a stray character)",
    }
}

/// A serde error from turning a checked section into its typed form, without
/// the offending value: serde writes `invalid type: string "sk-…", expected
/// u32`, which becomes `invalid type: a string, expected u32`.
pub(super) fn serde_message(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            // serde's `Unexpected` display: a kind word, then the value quoted.
            let found = rest.split([' ', ',']).next().unwrap_or_default();
            let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
            let found = match found {
                "string" => "a string",
                "integer" => "an integer",
                "floating" => "a fractional number",
                "boolean" => "a boolean",
                "sequence" => "a list",
                "map" => "a mapping",
                "null" | "unit" => "nothing",
                _ => "a value",
            };
            return format!("{prefix}{found}, expected {}", safe_expected(expected));
        }
    }
    // `missing field `name`` and `unknown field `name`, expected …` name
    // keys from tollgate's own schema; anything else may carry file text.
    if message.starts_with("missing field ") || message.starts_with("unknown field ") {
        return message.to_string();
    }
    if message.starts_with("unknown variant ") {
        return "unknown value for this key".to_string();
    }
    "has the wrong type or value".to_string()
}

/// serde's `expected …` comes from the schema, except that `invalid length`
/// and some visitors echo numbers; keep it only while it is plain words.
fn safe_expected(expected: &str) -> &str {
    let plain = expected
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " _-`,".contains(c));
    if plain && expected.len() <= 80 {
        expected
    } else {
        "another type"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "sk-canary-7f3e";

    #[test]
    fn syntax_errors_give_place_and_kind_without_the_line() {
        let broken = [
            format!("model_list:\n  - model_name: a\n    litellm_params:\n      api_key: \"{CANARY}\n"),
            format!("model_list:\n  - model_name: [{CANARY}\n"),
            format!("model_list:\n  api_base: http://u:{CANARY}@internal.example:8080/v1 : x\n"),
            format!("a: {CANARY}\n---\nb: 2\n"),
            format!("a: *{CANARY}\n"),
            format!("a:\n  b: 1\n c: {CANARY}\n"),
        ];
        for text in broken {
            let problem = parse(&text).expect_err(&text);
            let shown = problem.to_string();
            assert!(!shown.contains("canary"), "{shown}");
            assert!(shown.starts_with("yaml"), "{shown}");
        }
        let (value, warning) = parse(&format!("a: 1\na: {CANARY}\n")).unwrap();
        assert_eq!(value["a"], CANARY, "the last one wins");
        let warning = warning.unwrap_or_default();
        assert!(
            warning.starts_with("yaml line 2") && !warning.contains("canary"),
            "{warning}"
        );
        let problem = parse("model_list:\n  - model_name: [x\n").unwrap_err();
        assert!(problem.at.contains("line"), "{problem}");
    }

    #[test]
    fn serde_messages_lose_their_values() {
        let cases = [
            (
                format!("invalid type: string \"{CANARY}\", expected u32"),
                "invalid type: a string, expected u32",
            ),
            (
                "invalid value: integer `-1`, expected u32".to_string(),
                "invalid value: an integer, expected u32",
            ),
            (
                "invalid length 3, expected {\"a\": 1}".to_string(),
                "has the wrong type or value",
            ),
            (
                format!("unknown variant `{CANARY}`, expected `a`"),
                "unknown value for this key",
            ),
            (format!("something custom {CANARY}"), "has the wrong type or value"),
            ("missing field `name`".to_string(), "missing field `name`"),
        ];
        for (message, expect) in cases {
            assert_eq!(serde_message(&message), expect);
        }
    }
}
