//! Which providers tollgate speaks to and how their names map to wire formats.

pub mod azure;
pub mod entra;
pub mod ollama;
pub mod openai;

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

/// Providers that speak OpenAI's wire format, with LiteLLM's prefixes.
const OPENAI_COMPATIBLE: &[Provider] = &[
    Provider {
        name: "openai",
        default_base: Some("https://api.openai.com/v1"),
        wire: Wire::OpenAi,
    },
    Provider {
        name: "openrouter",
        default_base: Some("https://openrouter.ai/api/v1"),
        wire: Wire::OpenAi,
    },
    Provider {
        name: "hosted_vllm",
        default_base: None,
        wire: Wire::OpenAi,
    },
    Provider {
        name: "lm_studio",
        default_base: None,
        wire: Wire::OpenAi,
    },
];

/// Providers with URL and credential rules of their own (see their modules).
const OWN_RULES: [&Provider; 4] = [&azure::AZURE, &azure::AZURE_AI, &ollama::OLLAMA, &ollama::OLLAMA_CHAT];

/// LiteLLM providers that exist but that tollgate does not speak yet: named
/// in the error so the user knows it is not a typo.
const NOT_YET: &[&str] = &[
    "bedrock",
    "cohere",
    "deepseek",
    "fireworks_ai",
    "gemini",
    "groq",
    "huggingface",
    "mistral",
    "perplexity",
    "sagemaker",
    "together_ai",
    "vertex_ai",
    "watsonx",
    "xai",
];

/// Splits `provider/upstream-model` at the first `/` and finds the provider.
pub fn parse_model(model: &str) -> Result<(&'static Provider, &str), String> {
    let Some((prefix, upstream)) = model.split_once('/') else {
        return Err(format!(
            "`{model}` has no provider prefix; write it as `openai/{model}` for an OpenAI-compatible server"
        ));
    };
    if upstream.is_empty() {
        return Err(format!("`{model}` names no model after the provider prefix"));
    }
    if let Some(provider) = OPENAI_COMPATIBLE.iter().find(|p| p.name == prefix) {
        return Ok((provider, upstream));
    }
    if prefix == ANTHROPIC.name {
        return Ok((&ANTHROPIC, upstream));
    }
    if let Some(provider) = OWN_RULES.into_iter().find(|p| p.name == prefix) {
        return Ok((provider, upstream));
    }
    let supported: Vec<&str> = OPENAI_COMPATIBLE
        .iter()
        .map(|p| p.name)
        .chain([ANTHROPIC.name])
        .chain(OWN_RULES.iter().map(|p| p.name))
        .collect();
    if NOT_YET.contains(&prefix) {
        Err(format!(
            "provider `{prefix}` is a LiteLLM provider tollgate does not support yet (supported: {}); if it offers an OpenAI-compatible API, use `openai/` with its `api_base`",
            supported.join(", ")
        ))
    } else {
        Err(format!(
            "unknown provider `{prefix}` (supported: {})",
            supported.join(", ")
        ))
    }
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
        assert!(parse_model("gpt-4o").unwrap_err().contains("openai/gpt-4o"));
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
}
