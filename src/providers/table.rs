//! LiteLLM's provider table (`data/providers.tsv`): each prefix's wire, default
//! `api_base`, and the environment variables read when an entry omits its own.

use std::sync::OnceLock;

use super::{Provider, Wire};

const TABLE: &str = include_str!("../../data/providers.tsv");

/// One provider's row.
#[derive(Debug)]
pub struct Entry {
    /// Prefix, default base and wire.
    pub provider: Provider,
    /// Variables holding the key when `api_key` is absent, first set wins.
    pub key_env: &'static str,
    /// Variables holding the base when `api_base` is absent, before the default.
    pub base_env: &'static str,
    /// A prefix LiteLLM puts before the model name when it lacks it
    /// (Fireworks' `accounts/fireworks/models/`).
    pub model_prefix: &'static str,
    /// Chat request fields LiteLLM renames for this provider, `(from, to)`
    /// (`max_completion_tokens` to `max_tokens` for servers that know only
    /// the older name; LiteLLM's `param_mappings`).
    pub renames: Vec<(&'static str, &'static str)>,
}

impl Entry {
    /// The key variables, in LiteLLM's order.
    pub fn key_vars(&self) -> impl Iterator<Item = &'static str> {
        self.key_env.split(',').filter(|v| !v.is_empty())
    }

    /// The base variables, in LiteLLM's order.
    pub fn base_vars(&self) -> impl Iterator<Item = &'static str> {
        self.base_env.split(',').filter(|v| !v.is_empty())
    }
}

/// Every row, parsed once.
pub fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(parse_line)
            .collect()
    })
}

/// The row of `prefix`, if LiteLLM's table has one.
pub fn entry(prefix: &str) -> Option<&'static Entry> {
    entries().iter().find(|e| e.provider.name == prefix)
}

fn parse_line(line: &'static str) -> Option<Entry> {
    let mut fields = line.split('\t');
    let name = fields.next()?;
    let wire = match fields.next()? {
        "openai" => Wire::OpenAi,
        "anthropic" => Wire::Anthropic,
        _ => return None,
    };
    let default_base = Some(fields.next()?).filter(|b| !b.is_empty());
    Some(Entry {
        provider: Provider {
            name,
            default_base,
            wire,
        },
        key_env: fields.next()?,
        base_env: fields.next()?,
        model_prefix: fields.next()?,
        renames: fields
            .next()
            .unwrap_or_default()
            .split(',')
            .filter_map(|pair| pair.split_once(':'))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_parses() {
        let lines = TABLE.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count();
        assert_eq!(entries().len(), lines);
        assert!(lines > 50, "{lines}");
    }

    #[test]
    fn litellm_facts_survive() {
        let groq = entry("groq").unwrap();
        assert_eq!(groq.provider.default_base, Some("https://api.groq.com/openai/v1"));
        assert_eq!(groq.key_vars().collect::<Vec<_>>(), ["GROQ_API_KEY"]);
        let vllm = entry("hosted_vllm").unwrap();
        assert_eq!(vllm.provider.default_base, None);
        assert_eq!(vllm.base_vars().collect::<Vec<_>>(), ["HOSTED_VLLM_API_BASE"]);
        assert_eq!(
            entry("fireworks_ai").unwrap().model_prefix,
            "accounts/fireworks/models/"
        );
        assert_eq!(entry("anthropic").unwrap().provider.wire, Wire::Anthropic);
        assert!(entry("sarvam").is_none());
        assert_eq!(
            entry("mistral").unwrap().renames,
            [("max_completion_tokens", "max_tokens"), ("seed", "random_seed")]
        );
        assert_eq!(entry("poe").unwrap().renames, [("max_completion_tokens", "max_tokens")]);
        assert!(entry("groq").unwrap().renames.is_empty());
    }
}
