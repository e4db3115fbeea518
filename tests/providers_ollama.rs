//! Ollama end to end through its OpenAI-compatible `/v1` API: the paths,
//! headers and body it receives, its default and environment `api_base`, and
//! what becomes of LiteLLM's native Ollama options.

mod common;

use common::*;
use serde_json::json;
use tollgate::providers::Endpoint;

fn ollama_entry(name: &str, model: &str, params: &str) -> String {
    format!("  - model_name: {name}\n    litellm_params:\n      model: {model}\n{params}")
}

#[tokio::test]
async fn every_openai_endpoint_goes_under_v1_with_the_tag_and_no_key() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n{}{}",
        ollama_entry(
            "llama",
            "ollama/llama3.1:8b",
            &format!("      api_base: http://{}\n", mock.addr)
        ),
        ollama_entry(
            "chat",
            "ollama_chat/qwen2.5-coder",
            &format!("      api_base: http://{}/\n", mock.addr)
        ),
    );
    let gw = TestGateway::start(&yaml).await;
    let client_key = [("authorization", "Bearer client-key-never-forwarded")];
    let cases = [
        (
            "/v1/chat/completions",
            json!({"model": "llama", "messages": [{"role": "user", "content": "hi"}]}),
        ),
        ("/v1/completions", json!({"model": "llama", "prompt": "hi"})),
        ("/v1/embeddings", json!({"model": "llama", "input": "hi"})),
        (
            "/v1/chat/completions",
            json!({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ];
    for (path, body) in &cases {
        let answer = post_json(&gw.url(path), &client_key, body.clone()).await;
        assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
    }
    let calls = mock.calls();
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/chat/completions",
            "/v1/completions",
            "/v1/embeddings",
            "/v1/chat/completions"
        ]
    );
    let models: Vec<String> = calls
        .iter()
        .map(|c| c.json()["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(models, ["llama3.1:8b", "llama3.1:8b", "llama3.1:8b", "qwen2.5-coder"]);
    for call in &calls {
        assert_eq!(call.header("authorization"), None, "no key configured, none sent");
    }
    assert_eq!(calls[0].json()["messages"][0]["content"], "hi");
}

#[tokio::test]
async fn responses_and_anthropic_clients_are_translated_to_chat() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n{}",
        ollama_entry(
            "llama",
            "ollama/llama3.1",
            &format!("      api_base: http://{}\n", mock.addr)
        )
    );
    let gw = TestGateway::start(&yaml).await;
    let answer = post_json(&gw.url("/v1/responses"), &[], json!({"model": "llama", "input": "hi"})).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.json()["object"], "response");
    let answer = post_json(
        &gw.url("/v1/messages"),
        &[],
        json!({"model": "llama", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.json()["type"], "message");
    let paths: Vec<String> = mock.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(paths, ["/v1/chat/completions", "/v1/chat/completions"]);
}

#[tokio::test]
async fn a_configured_key_goes_as_bearer_for_a_proxy_in_front() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n{}",
        ollama_entry(
            "llama",
            "ollama/llama3.1",
            &format!("      api_base: http://{}/v1\n      api_key: proxy-key\n", mock.addr)
        )
    );
    let gw = TestGateway::start(&yaml).await;
    let answer = post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "llama", "messages": []}),
    )
    .await;
    assert_eq!(answer.status, 200);
    let call = &mock.calls()[0];
    assert_eq!(call.path, "/v1/chat/completions", "a base ending in /v1 is not doubled");
    assert_eq!(call.header("authorization"), Some("Bearer proxy-key"));
}

fn load(yaml: &str, env: &[(&str, &str)]) -> tollgate::config::Loaded {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    tollgate::config::load_str(yaml, std::path::Path::new("."), &lookup).expect("loads")
}

#[test]
fn the_base_defaults_to_ollama_api_base_then_localhost() {
    let yaml = format!("model_list:\n{}", ollama_entry("llama", "ollama/llama3.1", ""));
    let local = load(&yaml, &[]);
    assert_eq!(
        local.config.deployments[0].url(Endpoint::ChatCompletions).to_string(),
        "http://localhost:11434/v1/chat/completions"
    );
    let remote = load(&yaml, &[("OLLAMA_API_BASE", "http://gpu-box:11434")]);
    assert_eq!(
        remote.config.deployments[0].url(Endpoint::Embeddings).to_string(),
        "http://gpu-box:11434/v1/embeddings"
    );
    assert_eq!(&*remote.config.deployments[0].server_address, "gpu-box");
}

#[test]
fn native_options_without_a_v1_field_are_named_in_a_warning() {
    let params = "      num_ctx: 32768\n      num_predict: 512\n      temperature: 0.1\n";
    let yaml = format!("model_list:\n{}", ollama_entry("llama", "ollama_chat/llama3.1", params));
    let loaded = load(&yaml, &[]);
    let num_ctx = loaded.warnings.iter().find(|w| w.contains("num_ctx"));
    assert!(
        num_ctx.is_some_and(|w| w.contains("/v1") && w.contains("Modelfile")),
        "{:?}",
        loaded.warnings
    );
    // `num_predict` is taken as `max_tokens`, not reported as unknown.
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("num_predict")),
        "{:?}",
        loaded.warnings
    );
}

#[tokio::test]
async fn native_options_reach_v1_under_their_openai_names_and_the_rest_stay_home() {
    let mock = Mock::start().await;
    let params = format!(
        "      api_base: http://{}\n      num_predict: 512\n      temperature: 0.1\n      top_p: 0.9\n      seed: 3\n      stop: END\n      num_ctx: 32768\n      top_k: 40\n      repeat_penalty: 1.1\n",
        mock.addr
    );
    let yaml = format!(
        "model_list:\n{}",
        ollama_entry("llama", "ollama_chat/llama3.1", &params)
    );
    let gw = TestGateway::start(&yaml).await;
    let chat = r#"{"model":"llama","messages":[{"role":"user","content":"hi"}],"temperature":0.9}"#;
    let answer = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[("content-type", "application/json")],
        chat,
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    // num_predict as max_tokens; the client's temperature wins; num_ctx,
    // top_k and repeat_penalty have no /v1 field and are not sent.
    assert_eq!(
        String::from_utf8(mock.calls()[0].body.to_vec()).unwrap(),
        r#"{"max_tokens":512,"seed":3,"stop":"END","top_p":0.9,"model":"llama3.1","messages":[{"role":"user","content":"hi"}],"temperature":0.9}"#
    );
    let answer = post_json(
        &gw.url("/v1/completions"),
        &[],
        json!({"model": "llama", "prompt": "hi"}),
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(
        mock.calls()[1].json(),
        json!({"max_tokens": 512, "seed": 3, "stop": "END", "temperature": 0.1, "top_p": 0.9, "model": "llama3.1", "prompt": "hi"})
    );
}
