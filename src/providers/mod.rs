//! Which providers tollgate speaks to and how their names map to wire formats.

pub mod azure;
pub mod entra;
pub mod ollama;
pub mod openai;
pub mod table;

use crate::protocol::Format;

/// The model endpoints tollgate serves. Each maps to the path suffix
/// appended to a deployment's `api_base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Completions,
    Embeddings,
    Responses,
    /// Anthropic's Messages API (`/v1/messages`).
    Messages,
    /// Anthropic's token counter (`/v1/messages/count_tokens`).
    CountTokens,
}

impl Endpoint {
    pub const ALL: [Endpoint; 6] = [
        Endpoint::ChatCompletions,
        Endpoint::Completions,
        Endpoint::Embeddings,
        Endpoint::Responses,
        Endpoint::Messages,
        Endpoint::CountTokens,
    ];

    /// The path below `api_base` (which, for OpenAI-style APIs, ends in `/v1`).
    pub fn suffix(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Completions => "/completions",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::Responses => "/responses",
            Endpoint::Messages => "/messages",
            Endpoint::CountTokens => "/messages/count_tokens",
        }
    }

    /// The GenAI semantic-conventions operation name (`gen_ai.operation.name`).
    pub fn operation(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions | Endpoint::Messages => "chat",
            Endpoint::Completions => "text_completion",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Responses => "responses",
            Endpoint::CountTokens => "count_tokens",
        }
    }

    /// The wire format a client of this endpoint speaks, for the endpoints
    /// that can be translated; `None` for the OpenAI-only ones.
    pub fn format(self) -> Option<Format> {
        match self {
            Endpoint::ChatCompletions => Some(Format::Chat),
            Endpoint::Responses => Some(Format::Responses),
            Endpoint::Messages | Endpoint::CountTokens => Some(Format::Anthropic),
            Endpoint::Completions | Endpoint::Embeddings => None,
        }
    }

    /// The endpoint that serves `format`'s requests (a translation's target).
    pub fn of_format(format: Format) -> Endpoint {
        match format {
            Format::Chat => Endpoint::ChatCompletions,
            Format::Responses => Endpoint::Responses,
            Format::Anthropic => Endpoint::Messages,
        }
    }

    /// Position in `ALL`, for per-endpoint tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A provider tollgate can call, named by the prefix of `litellm_params.model`.
#[derive(Debug, PartialEq, Eq)]
pub struct Provider {
    /// The prefix as written in the config (`openai`, `openrouter`, ...).
    pub name: &'static str,
    /// `api_base` when the entry gives none; `None` means the entry must give one.
    pub default_base: Option<&'static str>,
    /// The API family its server speaks.
    pub wire: Wire,
}

/// The API families tollgate can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI's: chat completions, completions, embeddings, and on some
    /// servers Responses. Keys go as `Authorization: Bearer`.
    OpenAi,
    /// Anthropic's Messages API: `x-api-key` and `anthropic-version`.
    Anthropic,
}

/// The Anthropic provider (`anthropic/<model>`).
pub const ANTHROPIC: Provider = Provider {
    name: "anthropic",
    default_base: Some("https://api.anthropic.com"),
    wire: Wire::Anthropic,
};

/// The `anthropic-version` sent when the client did not send its own.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Providers with URL and credential rules of their own (see their modules).
const OWN_RULES: [&Provider; 4] = [&azure::AZURE, &azure::AZURE_AI, &ollama::OLLAMA, &ollama::OLLAMA_CHAT];

/// LiteLLM providers that exist but that tollgate does not speak yet: named
/// in the error so the user knows it is not a typo.
const NOT_YET: &[&str] = &[
    "ai21",
    "aleph_alpha",
    "azure_text",
    "baseten",
    "bedrock",
    "cloudflare",
    "databricks",
    "gemini",
    "huggingface",
    "jina_ai",
    "nlp_cloud",
    "oci",
    "palm",
    "predibase",
    "replicate",
    "sagemaker",
    "sagemaker_chat",
    "sarvam",
    "snowflake",
    "text-completion-codestral",
    "triton",
    "vertex_ai",
    "vertex_ai_beta",
    "voyage",
    "watsonx",
    "watsonx_text",
];

/// How `parse_model` found the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Named by the model's prefix (`groq/llama-3.1-8b`).
    Prefix,
    /// A bare model name (`gpt-4o`) whose provider the bundled model table
    /// (or, for `claude-*`, the name) gives, as LiteLLM infers it.
    Inferred,
}

/// The provider of `prefix`, when tollgate speaks it.
pub fn provider(prefix: &str) -> Option<&'static Provider> {
    if prefix == ANTHROPIC.name {
        return Some(&ANTHROPIC);
    }
    if let Some(provider) = OWN_RULES.into_iter().find(|p| p.name == prefix) {
        return Some(provider);
    }
    table::entry(prefix).map(|e| &e.provider)
}

/// Splits `provider/upstream-model` at the first `/` and finds the provider;
/// a model without a known prefix has its provider inferred from the bundled
/// model table, as LiteLLM does.
pub fn parse_model(model: &str) -> Result<(&'static Provider, &str), String> {
    parse_model_found(model).map(|(p, m, _)| (p, m))
}

/// `parse_model`, also saying whether the provider was inferred.
pub fn parse_model_found(model: &str) -> Result<(&'static Provider, &str, Found), String> {
    let split = model.split_once('/');
    if let Some((prefix, upstream)) = split {
        if let Some(provider) = provider(prefix) {
            if upstream.is_empty() {
                return Err(format!("`{model}` names no model after the provider prefix"));
            }
            return Ok((provider, upstream, Found::Prefix));
        }
    }
    if let Some(inferred) = infer(model) {
        return match provider(inferred) {
            Some(provider) => Ok((provider, model, Found::Inferred)),
            None => {
                // The table's `vertex_ai-language-models` is LiteLLM's `vertex_ai`.
                let name = match inferred.split_once('-') {
                    Some((name, _)) if inferred.ends_with("-models") => name,
                    _ => inferred,
                };
                Err(format!(
                    "`{model}` is a model of provider `{name}` (from the bundled model table), which tollgate does not support yet"
                ))
            }
        };
    }
    let Some((prefix, _)) = split else {
        return Err(format!(
            "`{model}` has no provider prefix and the bundled model table does not know it; write it as `openai/{model}` for an OpenAI-compatible server"
        ));
    };
    if NOT_YET.contains(&prefix) {
        Err(format!(
            "provider `{prefix}` is a LiteLLM provider tollgate does not support yet; if it offers an OpenAI-compatible API, use `openai/` with its `api_base`"
        ))
    } else {
        Err(format!("unknown provider `{prefix}` (not one of LiteLLM's)"))
    }
}

/// The LiteLLM provider tollgate does not speak that `model` names, by prefix
/// or by the bundled model table: such an entry loads disabled. `None` for a
/// model tollgate serves or a provider LiteLLM does not know either.
pub fn unsupported(model: &str) -> Option<&'static str> {
    if parse_model(model).is_ok() {
        return None;
    }
    if let Some(prefix) = model
        .split_once('/')
        .and_then(|(p, _)| NOT_YET.iter().find(|n| **n == p))
    {
        return Some(prefix);
    }
    let inferred = infer(model)?;
    // The table's `vertex_ai-language-models` is LiteLLM's `vertex_ai`.
    Some(match inferred.split_once('-') {
        Some((name, _)) if inferred.ends_with("-models") => {
            NOT_YET.iter().find(|n| **n == name).copied().unwrap_or(inferred)
        }
        _ => inferred,
    })
}

/// Every provider name tollgate or LiteLLM knows (for a typo's nearest name).
pub fn known_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = [ANTHROPIC.name]
        .into_iter()
        .chain(OWN_RULES.iter().map(|p| p.name))
        .chain(table::entries().iter().map(|e| e.provider.name))
        .chain(NOT_YET.iter().copied())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// LiteLLM's provider for a bare model name.
fn infer(model: &str) -> Option<&'static str> {
    if let Some(provider) = crate::spend::provider_of(model) {
        return Some(provider);
    }
    // Anthropic's models are all `claude-*`; the table lags new releases.
    model.starts_with("claude-").then_some(ANTHROPIC.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_after_the_first_slash_is_the_upstream_model() {
        let (p, m) = parse_model("openai/openrouter/free").unwrap();
        assert_eq!((p.name, m), ("openai", "openrouter/free"));
        assert_eq!(parse_model("openrouter/meta/llama").unwrap().1, "meta/llama");
    }

    #[test]
    fn bad_prefixes_say_why() {
        assert!(parse_model("not-a-model-x")
            .unwrap_err()
            .contains("openai/not-a-model-x"));
        assert!(parse_model("gemini/gemini-2.5-pro")
            .unwrap_err()
            .contains("does not support yet"));
        assert_eq!(
            parse_model("anthropic/claude-sonnet-4-5").unwrap().0.wire,
            Wire::Anthropic
        );
        assert!(parse_model("opnai/x").unwrap_err().contains("unknown provider"));
        assert!(parse_model("openai/").is_err());
    }

    #[test]
    fn the_table_s_providers_parse() {
        for prefix in [
            "groq",
            "mistral",
            "deepseek",
            "xai",
            "together_ai",
            "fireworks_ai",
            "cohere",
            "litellm_proxy",
        ] {
            let model = format!("{prefix}/some-model");
            let (p, m) = parse_model(&model).unwrap();
            assert_eq!((p.name, p.wire, m), (prefix, Wire::OpenAi, "some-model"));
        }
        for prefix in table::entries().iter().map(|e| e.provider.name) {
            assert!(!NOT_YET.contains(&prefix), "{prefix} is both supported and not");
        }
    }

    #[test]
    fn bare_names_are_inferred() {
        let (p, m, found) = parse_model_found("gpt-4o").unwrap();
        assert_eq!((p.name, m, found), ("openai", "gpt-4o", Found::Inferred));
        assert_eq!(parse_model("text-embedding-ada-002").unwrap().0.name, "openai");
        assert_eq!(parse_model("claude-opus-9-future").unwrap().0.name, "anthropic");
        assert!(parse_model("gemini-2.5-flash")
            .unwrap_err()
            .contains("provider `vertex_ai`"));
        assert_eq!(unsupported("gemini-2.5-flash"), Some("vertex_ai"));
        assert_eq!(unsupported("bedrock/anthropic.claude-v2"), Some("bedrock"));
        assert_eq!(unsupported("groq/llama"), None);
        assert_eq!(unsupported("opnai/x"), None);
    }
}
