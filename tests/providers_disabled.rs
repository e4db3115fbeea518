//! Entries tollgate cannot serve (an `api_base` that is no http(s) URL or
//! that nothing gives, an unset `os.environ/` variable, a `model` naming no
//! provider tollgate finds) load disabled: the others serve, and requests to
//! them get a 501 saying why.

mod common;

use std::process::Command;

use common::process::{Running, BIN};
use common::*;
use serde_json::json;

/// Five entries tollgate cannot serve, each for another reason, then one it can.
/// `tollgate check` (with `--strict` if asked) on `path`, with `unset` out of its environment.
fn check(path: &std::path::Path, strict: bool, unset: &str) -> std::process::Output {
    let mut command = Command::new(BIN);
    command.args(["check", "--config"]).arg(path).env_remove(unset);
    if strict {
        command.arg("--strict");
    }
    command.output().unwrap()
}

fn config(mock: &Mock) -> String {
    format!(
        r#"model_list:
  - model_name: ftp
    litellm_params: {{model: openai/x, api_base: "ftp://sk-in-the-url@host/v1"}}
  - model_name: unset-key
    litellm_params: {{model: groq/llama, api_base: {base}, api_key: os.environ/TOLLGATE_TEST_UNSET_KEY}}
  - model_name: vllm
    litellm_params: {{model: hosted_vllm/llama}}
  - model_name: az
    litellm_params: {{model: azure/gpt-4o, api_key: sk-azure-literal}}
  - model_name: garbage
    litellm_params: {{model: openai/x, api_base: "http://exa mple/v1"}}
  - model_name: ok
    litellm_params: {{model: openai/served, api_base: {base}}}
"#,
        base = mock.base()
    )
}

#[tokio::test]
async fn an_entry_that_cannot_be_served_answers_501_and_the_others_serve() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config(&mock)).await;
    let chat = |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    for (model, provider, reason) in [
        (
            "ftp",
            "openai",
            "litellm_params.api_base: must start with http:// or https://",
        ),
        (
            "unset-key",
            "groq",
            "litellm_params.api_key: environment variable TOLLGATE_TEST_UNSET_KEY is not set",
        ),
        (
            "vllm",
            "hosted_vllm",
            "litellm_params.api_base: provider `hosted_vllm` needs an api_base (or HOSTED_VLLM_API_BASE)",
        ),
        (
            "az",
            "azure",
            "litellm_params.api_base: provider `azure` needs an api_base (or AZURE_API_BASE)",
        ),
        ("garbage", "openai", "litellm_params.api_base: is not a URL"),
    ] {
        let answer = post_json(&gw.url("/v1/chat/completions"), &[], chat(model)).await;
        assert_eq!(answer.status, 501, "{model}: {:?}", answer.body);
        assert_eq!(answer.error_code(), "deployment_disabled");
        assert_eq!(answer.header("x-tollgate-error"), Some("deployment_disabled"));
        let message = answer.json()["error"]["message"].as_str().unwrap().to_string();
        assert_eq!(
            message,
            format!(
                "The model `{model}` (provider `{provider}`) cannot be served: its configuration entry is disabled ({reason})."
            )
        );
        assert!(!message.contains("sk-"), "no secret value: {message}");
    }
    // Anthropic's clients get Anthropic's error shape.
    let messages = json!({"model": "vllm", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let answer = post_json(&gw.url("/v1/messages"), &[], messages).await;
    assert_eq!(answer.status, 501);
    assert_eq!(answer.json()["type"], "error");
    assert!(answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("needs an api_base"));
    let answer = post_json(&gw.url("/v1/chat/completions"), &[], chat("ok")).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(mock.calls().len(), 1, "nothing of the disabled entries went upstream");
    let ready = send("GET", &gw.url("/health/readiness"), &[], "").await;
    assert_eq!(
        ready.json()["disabled"],
        json!([
            "model_list[0] (openai)",
            "model_list[1] (groq)",
            "model_list[2] (hosted_vllm)",
            "model_list[3] (azure)",
            "model_list[4] (openai)"
        ])
    );
}

#[tokio::test]
async fn check_warns_strict_refuses_and_the_gauge_counts_them() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, config(&mock)).unwrap();
    let run = |strict: bool| check(&path, strict, "TOLLGATE_TEST_UNSET_KEY");
    let out = run(false);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("warning: model_list[0]: cannot be served (litellm_params.api_base: must start with http:// or https://); the entry is loaded disabled (its requests get a 501)"),
        "{stdout}"
    );
    assert!(stdout.contains("(1 models, 1 deployments"), "{stdout}");
    assert!(!stdout.contains("sk-"), "no secret value: {stdout}");
    let out = run(true);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("5 entries cannot be served (--strict)"));

    let running = Running::start(&path, &[], &[]);
    let metrics = send("GET", &running.url("/metrics"), &[], "").await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    let gauge = |provider: &str| {
        text.lines()
            .find(|l| l.starts_with("tollgate_deployments_disabled") && l.contains(&format!("\"{provider}\"")))
            .unwrap_or_else(|| panic!("no disabled gauge for {provider} in {text}"))
            .to_string()
    };
    assert!(gauge("openai").ends_with(" 2"), "{}", gauge("openai"));
    assert!(gauge("azure").ends_with(" 1"), "{}", gauge("azure"));
}

/// Entries whose `model` names no provider tollgate finds, then one it serves.
fn no_provider_config(mock: &Mock) -> String {
    format!(
        r#"model_list:
  - model_name: typo
    litellm_params: {{model: olama/llama3}}
  - model_name: router
    litellm_params: {{model: auto_router/best}}
  - model_name: bare
    litellm_params: {{model: my-own-finetune}}
  - model_name: studio
    litellm_params: {{model: lm_studio/qwen}}
  - model_name: "*"
    litellm_params: {{model: "*"}}
  - model_name: ok
    litellm_params: {{model: openai/served, api_base: {base}}}
  - model_name: whisper
    litellm_params: {{model: whisper-1, api_base: {base}}}
"#,
        base = mock.base()
    )
}

#[tokio::test]
async fn a_model_naming_no_provider_answers_501_in_the_client_s_format_and_the_others_serve() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&no_provider_config(&mock)).await;
    let unknown = "litellm_params.model: names an unknown provider (neither LiteLLM's nor tollgate's)";
    let catch_all = "litellm_params.model: `*` is LiteLLM's catch-all";
    // `gpt-4o` is no model_name: the disabled `*` entry would have served it.
    for (model, provider, reason) in [
        ("typo", "unknown", format!("{unknown}; did you mean `ollama/`?")),
        (
            "router",
            "unknown",
            format!("{unknown}; for an OpenAI-compatible server"),
        ),
        (
            "bare",
            "unknown",
            "litellm_params.model: has no provider prefix".to_string(),
        ),
        (
            "studio",
            "lm_studio",
            "litellm_params.api_base: provider `lm_studio` needs an api_base (or LM_STUDIO_API_BASE)".to_string(),
        ),
        ("gpt-4o", "unknown", catch_all.to_string()),
    ] {
        let chat = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        let answer = post_json(&gw.url("/v1/chat/completions"), &[], chat).await;
        assert_eq!(answer.status, 501, "{model}: {:?}", answer.body);
        assert_eq!(answer.error_code(), "deployment_disabled", "{model}");
        let message = answer.json()["error"]["message"].as_str().unwrap().to_string();
        let head = format!("The model `{model}` (provider `{provider}`) cannot be served: its configuration entry is disabled ({reason}");
        assert!(message.starts_with(&head), "{message}");

        let messages = json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
        let answer = post_json(&gw.url("/v1/messages"), &[], messages).await;
        assert_eq!(answer.status, 501, "{model}: {:?}", answer.body);
        assert_eq!(answer.json()["type"], "error", "Anthropic's error shape");
        assert_eq!(answer.header("x-tollgate-error"), Some("deployment_disabled"));
        assert!(answer.json()["error"]["message"].as_str().unwrap().starts_with(&head));
    }
    // The others serve; `whisper-1`'s provider is inferred from the table.
    for model in ["ok", "whisper"] {
        let chat = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        let answer = post_json(&gw.url("/v1/chat/completions"), &[], chat).await;
        assert_eq!(answer.status, 200, "{model}: {:?}", answer.body);
    }
    let sent: Vec<String> = mock.calls().iter().map(|c| c.json()["model"].to_string()).collect();
    assert_eq!(
        sent,
        ["\"served\"", "\"whisper-1\""],
        "nothing of the disabled entries went upstream"
    );
}

#[tokio::test]
async fn check_passes_with_the_typo_warned_and_strict_fails() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, no_provider_config(&mock)).unwrap();
    let run = |strict: bool| check(&path, strict, "LM_STUDIO_API_BASE");
    let out = run(false);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("warning: model_list[0]: cannot be served (litellm_params.model: names an unknown provider (neither LiteLLM's nor tollgate's); did you mean `ollama/`?); the entry is loaded disabled (its requests get a 501)"),
        "{stdout}"
    );
    assert!(stdout.contains("tollgate does not route a bare `*` entry"), "{stdout}");
    let out = run(true);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("5 entries cannot be served (--strict)"),
        "{out:?}"
    );
}
