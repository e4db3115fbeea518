//! A `litellm_params` request default (written in OpenAI chat's terms, as
//! LiteLLM reads them) restated for each upstream format: the field that
//! format has for it, or nothing when it has none.

use serde_json::{json, Map, Value};

use crate::protocol::hub::ReasoningConfig;
use crate::providers::Endpoint;

/// The endpoints whose bodies take defaults, in the order of the tables in
/// `RequestDefaults`.
pub(super) const TARGETS: [Endpoint; 4] = [
    Endpoint::ChatCompletions,
    Endpoint::Completions,
    Endpoint::Responses,
    Endpoint::Messages,
];

/// `key: value` (a chat field) as the body for `target` would carry it;
/// `None` when that format has no such field. `extra_body`'s members are
/// the provider's own and go as they are (`extra`).
pub(super) fn restate(target: Endpoint, key: &str, value: &Value, extra: bool) -> Option<(String, Value)> {
    let same = || Some((key.to_string(), value.clone()));
    let to = |name: &str, value: Value| Some((name.to_string(), value));
    if extra {
        return same();
    }
    match target {
        Endpoint::ChatCompletions => same(),
        // The legacy text completions: chat's sampling fields, no tools or formats.
        Endpoint::Completions => match key {
            "max_completion_tokens" => to("max_tokens", value.clone()),
            // Completions' `logprobs` is chat's `top_logprobs` (a count).
            "top_logprobs" => to("logprobs", value.clone()),
            "frequency_penalty" | "logit_bias" | "max_tokens" | "n" | "presence_penalty" | "seed" | "stop"
            | "temperature" | "top_p" | "user" => same(),
            _ => None,
        },
        Endpoint::Responses => match key {
            "max_tokens" | "max_completion_tokens" => to("max_output_tokens", value.clone()),
            "reasoning_effort" => to("reasoning", json!({"effort": value})),
            "response_format" => to("text", json!({"format": responses_format(value)})),
            "tool_choice" => to("tool_choice", responses_tool_choice(value)),
            "parallel_tool_calls" | "temperature" | "top_logprobs" | "top_p" | "user" => same(),
            // `stop`, `seed`, `n`, penalties, `logit_bias`, `logprobs`: Responses has none.
            _ => None,
        },
        Endpoint::Messages => match key {
            "max_tokens" | "max_completion_tokens" => to("max_tokens", value.clone()),
            "stop" => to("stop_sequences", stop_sequences(value)?),
            "tool_choice" => to("tool_choice", anthropic_tool_choice(value)?),
            "user" => to("metadata", json!({"user_id": value})),
            "reasoning_effort" => {
                let effort = value.as_str()?.to_string();
                let config = ReasoningConfig {
                    effort: Some(effort),
                    budget_tokens: None,
                };
                // The same steps as a translated request's (`hub::ReasoningConfig`).
                to(
                    "thinking",
                    json!({"type": "enabled", "budget_tokens": config.budget_or_step()?}),
                )
            }
            "temperature" | "top_p" => same(),
            // `seed`, `n`, penalties, logprobs, `response_format`,
            // `parallel_tool_calls` (it lives inside `tool_choice` there).
            _ => None,
        },
        Endpoint::Embeddings | Endpoint::CountTokens => None,
    }
}

/// Chat's `response_format` as Responses' `text.format`: a JSON schema's
/// members move up beside its `type`.
fn responses_format(value: &Value) -> Value {
    match (value.get("type").and_then(Value::as_str), value.get("json_schema")) {
        (Some("json_schema"), Some(Value::Object(schema))) => {
            let mut format = Map::new();
            format.insert("type".into(), "json_schema".into());
            format.extend(schema.iter().map(|(k, v)| (k.clone(), v.clone())));
            Value::Object(format)
        }
        _ => value.clone(),
    }
}

/// Chat's `{"type": "function", "function": {"name": N}}` is Responses'
/// `{"type": "function", "name": N}`; the words (`auto`, ...) are the same.
fn responses_tool_choice(value: &Value) -> Value {
    match value.pointer("/function/name") {
        Some(name) => json!({"type": "function", "name": name}),
        None => value.clone(),
    }
}

/// Chat's `tool_choice` in Anthropic's words.
fn anthropic_tool_choice(value: &Value) -> Option<Value> {
    match (value.as_str(), value.pointer("/function/name")) {
        (Some("auto"), _) => Some(json!({"type": "auto"})),
        (Some("required"), _) => Some(json!({"type": "any"})),
        (Some("none"), _) => Some(json!({"type": "none"})),
        (_, Some(name)) => Some(json!({"type": "tool", "name": name})),
        _ => None,
    }
}

/// Chat's `stop` (a string or a list) as Anthropic's `stop_sequences` list.
fn stop_sequences(value: &Value) -> Option<Value> {
    match value {
        Value::String(s) => Some(json!([s])),
        Value::Array(_) => Some(value.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(target: Endpoint, key: &str, value: Value) -> Option<(String, Value)> {
        restate(target, key, &value, false)
    }

    #[test]
    fn responses_takes_its_own_names_and_drops_what_it_lacks() {
        let r = Endpoint::Responses;
        assert_eq!(
            on(r, "max_tokens", json!(9)),
            Some(("max_output_tokens".into(), json!(9)))
        );
        assert_eq!(
            on(r, "reasoning_effort", json!("low")),
            Some(("reasoning".into(), json!({"effort": "low"})))
        );
        let schema =
            json!({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}, "strict": true}});
        assert_eq!(
            on(r, "response_format", schema),
            Some((
                "text".into(),
                json!({"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}, "strict": true}})
            ))
        );
        let choice = json!({"type": "function", "function": {"name": "f"}});
        assert_eq!(
            on(r, "tool_choice", choice),
            Some(("tool_choice".into(), json!({"type": "function", "name": "f"})))
        );
        for key in ["stop", "seed", "n", "frequency_penalty", "logit_bias", "logprobs"] {
            assert_eq!(on(r, key, json!(1)), None, "{key}");
        }
    }

    #[test]
    fn anthropic_takes_its_own_names_and_drops_what_it_lacks() {
        let m = Endpoint::Messages;
        assert_eq!(
            on(m, "max_completion_tokens", json!(9)),
            Some(("max_tokens".into(), json!(9)))
        );
        assert_eq!(
            on(m, "stop", json!("END")),
            Some(("stop_sequences".into(), json!(["END"])))
        );
        assert_eq!(
            on(m, "tool_choice", json!("required")),
            Some(("tool_choice".into(), json!({"type": "any"})))
        );
        assert_eq!(
            on(m, "user", json!("u1")),
            Some(("metadata".into(), json!({"user_id": "u1"})))
        );
        assert_eq!(
            on(m, "reasoning_effort", json!("medium")),
            Some(("thinking".into(), json!({"type": "enabled", "budget_tokens": 2048})))
        );
        assert_eq!(on(m, "reasoning_effort", json!("none")), None);
        for key in ["seed", "n", "presence_penalty", "response_format", "logprobs"] {
            assert_eq!(on(m, key, json!(1)), None, "{key}");
        }
        // extra_body's members are the provider's: as they are, everywhere.
        assert_eq!(restate(m, "top_k", &json!(5), true), Some(("top_k".into(), json!(5))));
    }

    #[test]
    fn completions_take_the_sampling_fields() {
        let c = Endpoint::Completions;
        assert_eq!(
            on(c, "max_completion_tokens", json!(9)),
            Some(("max_tokens".into(), json!(9)))
        );
        assert_eq!(on(c, "top_logprobs", json!(3)), Some(("logprobs".into(), json!(3))));
        assert_eq!(on(c, "seed", json!(1)), Some(("seed".into(), json!(1))));
        assert_eq!(on(c, "response_format", json!({"type": "json_object"})), None);
        assert_eq!(on(c, "logprobs", json!(true)), None);
    }
}
