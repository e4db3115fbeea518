//! Every provider of LiteLLM's table, end to end: the URL, key header and
//! body each one's server receives, with the key and base taken from the
//! environment variables LiteLLM reads when the entry names none.

mod common;

use common::*;
use serde_json::json;
use tollgate::providers::table;
use tollgate::providers::Wire;

/// A key unique to the variable, so a test sees which one was read.
fn key_of(var: &str) -> String {
    format!("key-{}", var.to_ascii_lowercase())
}

#[tokio::test]
async fn each_openai_compatible_provider_gets_its_url_key_and_model() {
    let mock = Mock::start().await;
    let entries: Vec<&table::Entry> = table::entries()
        .iter()
        .filter(|e| e.provider.wire == Wire::OpenAi)
        .collect();
    let mut yaml = String::from("model_list:\n");
    let mut env: Vec<(String, String)> = Vec::new();
    for entry in &entries {
        let name = entry.provider.name;
        yaml.push_str(&format!(
            "  - model_name: {name}\n    litellm_params:\n      model: {name}/up-{name}\n"
        ));
        // The base from the provider's own variable when it has one, else from api_base.
        let base = format!("{}/{name}", mock.base());
        match entry.base_vars().next() {
            Some(var) if !env.iter().any(|(k, _)| k == var) => env.push((var.to_string(), base)),
            _ => yaml.push_str(&format!("      api_base: {base}\n")),
        }
        if let Some(var) = entry.key_vars().next() {
            if !env.iter().any(|(k, _)| k == var) {
                env.push((var.to_string(), key_of(var)));
            }
        }
    }
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let gw = TestGateway::start_with_env(&yaml, &env_refs).await;
    for entry in &entries {
        let name = entry.provider.name;
        // OpenAI's text completion models serve only /completions.
        let (path, body) = match name {
            "text-completion-openai" => ("completions", json!({"prompt": "hi"})),
            _ => (
                "chat/completions",
                json!({"messages": [{"role": "user", "content": "hi"}]}),
            ),
        };
        let mut request = body.clone();
        request["model"] = json!(name);
        let answer = post_json(&gw.url(&format!("/v1/{path}")), &[], request).await;
        assert_eq!(answer.status, 200, "{name}: {:?}", answer.body);
        let calls = mock.calls();
        let call = calls.last().expect("the upstream was called");
        assert_eq!(call.path, format!("/v1/{name}/{path}"), "{name}");
        let expected_key = entry.key_vars().next().map(|var| format!("Bearer {}", key_of(var)));
        assert_eq!(call.header("authorization").map(str::to_string), expected_key, "{name}");
        let mut expected = body;
        expected["model"] = json!(format!("{}up-{name}", entry.model_prefix));
        assert_eq!(call.json(), expected, "{name}");
    }
    assert_eq!(mock.calls().len(), entries.len());
}

#[tokio::test]
async fn each_table_entry_defaults_to_litellm_s_base() {
    for entry in table::entries() {
        let name = entry.provider.name;
        let yaml =
            format!("model_list:\n  - model_name: m\n    litellm_params:\n      model: {name}/x\n      api_key: k\n");
        let loaded = tollgate::config::load_str(&yaml, std::path::Path::new("."), &|_| None);
        match (entry.provider.default_base, loaded) {
            (Some(base), Ok(loaded)) => {
                let url = loaded.config.deployments[0].urls[0].to_string();
                let base = base.trim_end_matches('/');
                assert!(url.starts_with(base), "{name}: {url} from {base}");
            }
            // No base: the entry loads disabled, saying why; the config still loads.
            (None, Ok(loaded)) => {
                let disabled = &loaded.config.disabled;
                assert_eq!(disabled.len(), 1, "{name}");
                assert!(
                    disabled[0].to_string().contains("needs an api_base"),
                    "{name}: {}",
                    disabled[0]
                );
            }
            (base, other) => panic!("{name}: default {base:?} but {:?}", other.map(|l| l.warnings)),
        }
    }
}

#[tokio::test]
async fn a_bare_model_name_and_a_query_on_api_base_reach_the_upstream() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: gpt-4o\n      api_base: {}?tenant=t1\n    rpm: 100\n",
        mock.base()
    );
    let gw = TestGateway::start_with_env(&yaml, &[("OPENAI_API_KEY", "sk-env")]).await;
    let answer = post_json(&gw.url("/v1/embeddings"), &[], json!({"model": "m", "input": "x"})).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let call = &mock.calls()[0];
    // The mock records the path alone; the query's place on every URL is
    // asserted where the URLs are built (config tests).
    assert_eq!(call.path, "/v1/embeddings");
    assert_eq!(call.header("authorization"), Some("Bearer sk-env"));
    assert_eq!(call.json(), json!({"model": "gpt-4o", "input": "x"}));
}

#[tokio::test]
async fn anthropic_reads_its_key_variable() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n  - model_name: c\n    litellm_params:\n      model: claude-sonnet-4-5\n      api_base: {}\n",
        mock.base()
    );
    let gw = TestGateway::start_with_env(&yaml, &[("ANTHROPIC_API_KEY", "sk-ant-env")]).await;
    let answer = post_json(
        &gw.url("/v1/messages"),
        &[],
        json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let call = &mock.calls()[0];
    assert_eq!(call.path, "/v1/messages");
    assert_eq!(call.header("x-api-key"), Some("sk-ant-env"));
    assert_eq!(call.json()["model"], "claude-sonnet-4-5");
}

#[tokio::test]
async fn an_unsupported_provider_s_entry_answers_501_and_the_others_serve() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n  - model_name: ok\n    litellm_params:\n      model: groq/llama\n      api_base: {}\n  - model_name: off\n    litellm_params:\n      model: vertex_ai/gemini-2.5-pro\n      vertex_project: p\n",
        mock.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let chat = json!({"model": "off", "messages": [{"role": "user", "content": "hi"}]});
    let answer = post_json(&gw.url("/v1/chat/completions"), &[], chat).await;
    assert_eq!(answer.status, 501);
    assert_eq!(answer.error_code(), "provider_not_supported");
    assert!(answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`vertex_ai`"));
    let messages = json!({"model": "off", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let answer = post_json(&gw.url("/v1/messages"), &[], messages).await;
    assert_eq!(answer.status, 501);
    assert_eq!(
        answer.json()["type"],
        "error",
        "Anthropic's error shape: {:?}",
        answer.body
    );
    let ok = json!({"model": "ok", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post_json(&gw.url("/v1/chat/completions"), &[], ok).await.status, 200);
    let ready = send("GET", &gw.url("/health/readiness"), &[], "").await;
    assert_eq!(ready.json()["disabled"], json!(["model_list[1] (vertex_ai)"]));
    assert!(mock.calls().iter().all(|c| c.json()["model"] == "llama"));
}

#[tokio::test]
async fn litellm_params_request_defaults_fill_only_what_the_client_left_out() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: deepseek/deepseek-chat\n      api_base: {}\n      max_tokens: 256\n      temperature: 0.2\n      extra_body:\n        top_k: 5\n",
        mock.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":1}"#;
    let answer = send(
        "POST",
        &gw.url("/v1/chat/completions"),
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let sent = String::from_utf8(mock.calls()[0].body.to_vec()).unwrap();
    assert_eq!(
        sent,
        r#"{"top_k":5,"max_tokens":256,"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}],"temperature":1}"#
    );
    // Embeddings take none of a chat model's defaults.
    let answer = post_json(&gw.url("/v1/embeddings"), &[], json!({"model": "m", "input": "x"})).await;
    assert_eq!(answer.status, 200);
    assert_eq!(mock.calls()[1].json(), json!({"model": "deepseek-chat", "input": "x"}));
}

#[tokio::test]
async fn the_model_list_names_each_deployment_s_provider_and_formats() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: groq/llama\n      api_base: {base}\n  - model_name: m\n    litellm_params:\n      model: anthropic/claude-haiku-4-5\n      api_base: {base}\n",
        base = mock.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let answer = send("GET", &gw.url("/v1/models"), &[], "").await;
    assert_eq!(answer.status, 200);
    let model = &answer.json()["data"][0];
    assert_eq!((&model["id"], &model["object"]), (&json!("m"), &json!("model")));
    assert_eq!(
        model["deployments"],
        json!([
            {"provider": "groq", "formats": "chat: native, responses: via chat, anthropic: via chat"},
            {"provider": "anthropic", "formats": "chat: via anthropic, responses: via anthropic, anthropic: native"},
        ])
    );
}

#[tokio::test]
async fn text_completion_openai_serves_completions_and_refuses_chat_clearly() {
    let mock = Mock::start().await;
    let yaml = format!(
        "model_list:\n  - model_name: instruct\n    litellm_params:\n      model: text-completion-openai/gpt-3.5-turbo-instruct\n      api_base: {}\n      api_key: sk-test\n      max_tokens: 16\n",
        mock.base()
    );
    let gw = TestGateway::start(&yaml).await;
    let answer = post_json(
        &gw.url("/v1/completions"),
        &[],
        json!({"model": "instruct", "prompt": "Say hi"}),
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let call = &mock.calls()[0];
    assert_eq!(call.path, "/v1/completions");
    assert_eq!(call.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(
        call.json(),
        json!({"max_tokens": 16, "model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"})
    );
    // A chat model's request would get OpenAI's 404 "not a chat model":
    // the gateway says so itself, in each client's format.
    let chat = json!({"model": "instruct", "messages": [{"role": "user", "content": "hi"}]});
    let answer = post_json(&gw.url("/v1/chat/completions"), &[], chat).await;
    assert_eq!(answer.status, 400, "{:?}", answer.body);
    assert_eq!(answer.error_code(), "endpoint_not_supported");
    let message = answer.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("`text-completion-openai`") && message.contains("/chat/completions"),
        "{message}"
    );
    let messages = json!({"model": "instruct", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let answer = post_json(&gw.url("/v1/messages"), &[], messages).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["type"], "error", "Anthropic's error shape");
    let answer = post_json(
        &gw.url("/v1/responses"),
        &[],
        json!({"model": "instruct", "input": "hi"}),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(mock.calls().len(), 1, "nothing but the completion went upstream");
    let models = send("GET", &gw.url("/v1/models"), &[], "").await;
    assert_eq!(
        models.json()["data"][0]["deployments"][0]["formats"],
        "chat: no, responses: no, anthropic: no"
    );
}
