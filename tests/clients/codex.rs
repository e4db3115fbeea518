//! Codex, as `codex exec`, running a shell command with its `exec_command`
//! tool: straight at a Responses upstream, then through tollgate to a
//! chat-only upstream.

use serde_json::json;

use crate::common::TestGateway;
use crate::sandbox::{installed, Files, Outcome, Sandbox};
use crate::upstream::{ToolCall, Upstream, Wire};

const GATEWAY_KEY: &str = "sk-tollgate-e2e-codex";

/// Runs `codex exec` with a custom provider at `base_url` (ending in `/v1`;
/// Codex adds `/responses`).
async fn codex(sandbox: &Sandbox, base_url: &str, key: &str, model: &str) -> Outcome {
    let codex_home = sandbox.home.join(".codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    // Analytics, plugin sync and update checks off: the provider is the only URL.
    let config = format!(
        r#"model = "{model}"
model_provider = "gateway"
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false
apps = false
remote_plugin = false

[model_providers.gateway]
name = "gateway"
base_url = "{base_url}"
env_key = "GATEWAY_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 30000
"#
    );
    std::fs::write(codex_home.join("config.toml"), config).unwrap();
    let answer = sandbox.home.join("answer.txt");
    let mut command = sandbox.command(&installed("@openai/codex", "codex"));
    command.env("CODEX_HOME", &codex_home).env("GATEWAY_API_KEY", key);
    command
        .args([
            "exec",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
        ])
        .args(["--ephemeral", "--color", "never", "-o"])
        .arg(&answer)
        .arg("-C")
        .arg(&sandbox.project)
        .arg("Print the secret word in secret.txt.");
    let files = Files {
        answer: Some(&answer),
        log: None,
    };
    sandbox.run(command, files).await
}

/// The shell call that prints the secret file (the sandbox's project is the cwd).
fn cat() -> ToolCall {
    ToolCall {
        name: "exec_command",
        arguments: json!({"cmd": "cat secret.txt"}),
    }
}

/// The reference run: Codex against the Responses mock itself. It proves the
/// mock speaks what Codex needs; the gateway run must match it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_runs_a_command_through_the_responses_mock_directly() {
    let sandbox = Sandbox::new("SORREL-2284").await;
    let upstream = Upstream::start(Wire::Responses, cat()).await;
    let base = format!("{}/v1", upstream.origin());
    let outcome = codex(&sandbox, &base, "sk-direct", "mock-model").await;
    upstream.assert_round_trip(&outcome, "SORREL-2284");
    let turn = &upstream.turns()[1];
    assert_eq!(turn.target, "/v1/responses");
    assert_eq!(turn.header("authorization"), Some("Bearer sk-direct"));
    assert_eq!(turn.json()["model"], "mock-model");
}

/// Codex on a chat-only provider: tollgate translates Responses to chat
/// completions and back (`use_chat_completions_api`, LiteLLM's spelling).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_runs_a_command_through_tollgate_on_a_chat_only_upstream() {
    let sandbox = Sandbox::new("TAMARIND-6105").await;
    let upstream = Upstream::start(Wire::Chat, cat()).await;
    let config = format!(
        "model_list:
  - model_name: gw-codex
    litellm_params:
      model: openai/mock-chat
      api_base: {}/v1
      api_key: sk-upstream-chat
      use_chat_completions_api: true
general_settings:
  master_key: {GATEWAY_KEY}
",
        upstream.origin()
    );
    let gateway = TestGateway::start(&config).await;
    let outcome = codex(&sandbox, &gateway.url("/v1"), GATEWAY_KEY, "gw-codex").await;
    upstream.assert_round_trip(&outcome, "TAMARIND-6105");
    upstream.assert_never_saw(GATEWAY_KEY);
    let turn = &upstream.turns()[1];
    assert_eq!(turn.target, "/v1/chat/completions");
    assert_eq!(turn.header("authorization"), Some("Bearer sk-upstream-chat"));
    assert_eq!(turn.json()["model"], "mock-chat");
}
