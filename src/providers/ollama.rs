//! Ollama (`ollama/`, `ollama_chat/`), served through its OpenAI-compatible
//! `/v1` API, and what LiteLLM's native Ollama options become there.
//!
//! LiteLLM calls Ollama's native `/api/generate` and `/api/chat` and puts
//! options from `litellm_params` into their `options`. On `/v1` the options
//! with an OpenAI equivalent are sent under that name (as request defaults:
//! only when the client did not send the field): `num_predict` becomes
//! `max_tokens`; `temperature`, `top_p`, `seed`, `stop`, `frequency_penalty`
//! and `presence_penalty` keep theirs. The others have no `/v1` field and
//! are dropped with a warning: notably `num_ctx` (the context window) — set
//! it in the model's Modelfile (`PARAMETER num_ctx 32768`) or with
//! `OLLAMA_CONTEXT_LENGTH` on the Ollama server instead, as Ollama's default
//! context is small and it silently truncates longer prompts.

use serde_json::{Map, Value};

use super::{Provider, Wire};

/// `ollama/<model>` (LiteLLM: `/api/generate`).
pub const OLLAMA: Provider = Provider {
    name: "ollama",
    default_base: Some("http://localhost:11434"),
    wire: Wire::OpenAi,
};

/// `ollama_chat/<model>` (LiteLLM: `/api/chat`); the same `/v1` API here.
pub const OLLAMA_CHAT: Provider = Provider {
    name: "ollama_chat",
    default_base: Some("http://localhost:11434"),
    wire: Wire::OpenAi,
};

/// The variable LiteLLM reads for the server when an entry has no `api_base`.
pub const BASE_VAR: &str = "OLLAMA_API_BASE";

/// The OpenAI-compatible root under an Ollama `api_base`
/// (`http://host:11434` → `http://host:11434/v1`); a base that already
/// ends in `/v1` is taken as it is.
pub fn openai_base(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.ends_with("/v1") {
        base.to_string()
    } else {
        format!("{base}/v1")
    }
}

/// Options of Ollama's native API whose `/v1` request field has another name.
const RENAMED: &[(&str, &str)] = &[("num_predict", "max_tokens")];

/// Options of Ollama's native API with no field on its `/v1` API.
const NO_V1_FIELD: &[&str] = &[
    "keep_alive",
    "mirostat",
    "mirostat_eta",
    "mirostat_tau",
    "num_ctx",
    "num_gpu",
    "num_thread",
    "repeat_last_n",
    "repeat_penalty",
    "tfs_z",
    "top_k",
];

/// Rewrites an Ollama entry's `litellm_params` for the `/v1` API: renamed
/// options take their OpenAI name (unless that is set too), options with no
/// `/v1` field are removed. Returns one warning per removed option.
pub fn map_options(params: &mut Map<String, Value>) -> Vec<String> {
    for (native, openai) in RENAMED {
        if let Some(value) = params.remove(*native) {
            params.entry(openai.to_string()).or_insert(value);
        }
    }
    let mut warnings = Vec::new();
    for option in NO_V1_FIELD {
        if params.remove(*option).is_some() {
            let hint = if *option == "num_ctx" {
                "; set it in the model's Modelfile (PARAMETER num_ctx) or with OLLAMA_CONTEXT_LENGTH on the server"
            } else {
                ""
            };
            warnings.push(format!(
                "`litellm_params.{option}` has no equivalent on Ollama's OpenAI-compatible /v1 API; it is ignored{hint}"
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_v1_root_is_added_once() {
        assert_eq!(openai_base("http://localhost:11434"), "http://localhost:11434/v1");
        assert_eq!(openai_base("http://gpu:11434/"), "http://gpu:11434/v1");
        assert_eq!(openai_base("http://gpu:11434/v1/"), "http://gpu:11434/v1");
    }

    #[test]
    fn options_take_their_openai_names_or_are_dropped_with_a_warning() {
        let mut params =
            json!({"model": "ollama/llama3", "num_predict": 256, "temperature": 0.2, "num_ctx": 8192, "top_k": 40})
                .as_object()
                .cloned()
                .unwrap();
        let warnings = map_options(&mut params);
        assert_eq!(
            Value::Object(params),
            json!({"model": "ollama/llama3", "max_tokens": 256, "temperature": 0.2})
        );
        assert_eq!(warnings.len(), 2);
        assert!(warnings
            .iter()
            .any(|w| w.contains("num_ctx") && w.contains("Modelfile")));
    }

    #[test]
    fn an_explicit_max_tokens_wins_over_num_predict() {
        let mut params = json!({"max_tokens": 10, "num_predict": 99})
            .as_object()
            .cloned()
            .unwrap();
        assert!(map_options(&mut params).is_empty());
        assert_eq!(Value::Object(params), json!({"max_tokens": 10}));
    }
}
