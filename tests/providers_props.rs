//! Property: whatever mix of LiteLLM-style entries a config holds, a config
//! `check` accepts starts the gateway, every entry it loads answers without a
//! 501, and every entry it loads disabled answers 501.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::json;

/// How an entry names its model: a table provider, one tollgate does not
/// speak, a bare name, or something nobody knows.
const MODELS: &[&str] = &[
    "openai/gpt-4o-mini",
    "groq/llama-3.1-8b-instant",
    "mistral/mistral-small",
    "fireworks_ai/llama-v3",
    "hosted_vllm/qwen",
    "litellm_proxy/any",
    "anthropic/claude-haiku-4-5",
    "azure/gpt-4o-prod",
    "ollama/llama3.2",
    "gpt-4o",
    "claude-sonnet-4-5",
    "bedrock/anthropic.claude-v2",
    "vertex_ai/gemini-2.5-pro",
    "gemini-2.5-flash",
    "nonsense/x",
];

/// Extra `litellm_params` lines: request defaults, provider parameters, typos.
const EXTRAS: &[&str] = &[
    "",
    "      max_tokens: 64\n",
    "      temperature: 0.5\n      seed: 7\n",
    "      project_id: p\n",
    "      tiemout: 5\n",
    "      extra_body:\n        top_k: 3\n",
];

#[derive(Debug, Clone)]
struct Entry {
    model: usize,
    extra: usize,
    with_base: bool,
}

fn entry() -> impl Strategy<Value = Entry> {
    (0..MODELS.len(), 0..EXTRAS.len(), any::<bool>()).prop_map(|(model, extra, with_base)| Entry {
        model,
        extra,
        with_base,
    })
}

fn yaml(entries: &[Entry], base: &str) -> String {
    let mut yaml = String::from("model_list:\n");
    for (i, e) in entries.iter().enumerate() {
        yaml.push_str(&format!(
            "  - model_name: m{i}\n    litellm_params:\n      model: {}\n      api_key: k{i}\n{}",
            MODELS[e.model], EXTRAS[e.extra]
        ));
        // Without api_base only a provider without a default base is written, so
        // nothing can leave the machine: it must fail to load, or be disabled.
        if e.with_base || !no_default_base(MODELS[e.model]) {
            yaml.push_str(&format!("      api_base: {base}\n"));
        }
    }
    yaml
}

fn no_default_base(model: &str) -> bool {
    let prefix = model.split_once('/').map_or("", |(p, _)| p);
    tollgate::providers::table::entry(prefix).is_some_and(|e| e.provider.default_base.is_none())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn what_check_accepts_starts_and_serves(entries in proptest::collection::vec(entry(), 0..5)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mock = Mock::start().await;
            let text = yaml(&entries, &mock.base());
            let Ok(loaded) = tollgate::config::load_str(&text, std::path::Path::new("."), &|_| None) else {
                return;
            };
            let served: Vec<String> = loaded.config.deployments.iter().map(|d| d.model_name.to_string()).collect();
            let disabled: Vec<String> = loaded.config.disabled.iter().map(|d| d.model_name.to_string()).collect();
            let gw = TestGateway::serve(loaded.config).await;
            let ready = send("GET", &gw.url("/health/readiness"), &[], "").await;
            assert_eq!(ready.status, 200, "{text}");
            for (names, want_501) in [(&served, false), (&disabled, true)] {
                for name in names {
                    let body = json!({"model": name, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]});
                    let answer = post_json(&gw.url("/v1/chat/completions"), &[], body).await;
                    assert_eq!(answer.status == 501, want_501, "{name} in\n{text}\n{:?}", answer.body);
                }
            }
            assert!(gw.stop().await);
        });
    }
}
