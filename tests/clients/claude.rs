//! Claude Code, as `claude -p`, reading a file with its Read tool: straight at
//! an Anthropic upstream, then through tollgate to a chat-only and to an
//! Anthropic upstream.

use serde_json::json;

use crate::common::TestGateway;
use crate::sandbox::{installed, Files, Outcome, Sandbox};
use crate::upstream::{ToolCall, Upstream, Wire};

const GATEWAY_KEY: &str = "sk-tollgate-e2e-claude";

/// Runs `claude -p` against `base_url` (no `/v1`: the SDK adds `/v1/messages`).
/// `env` adds the key (`ANTHROPIC_API_KEY` or `ANTHROPIC_AUTH_TOKEN`) and the
/// model names.
async fn claude(sandbox: &Sandbox, base_url: &str, env: &[(&str, &str)]) -> Outcome {
    let mut command = sandbox.command(&installed("@anthropic-ai/claude-code", "claude"));
    command
        .env("ANTHROPIC_BASE_URL", base_url)
        .env("CLAUDE_CONFIG_DIR", sandbox.home.join(".claude"))
        // Nothing but the base URL: no bootstrap, event logging, MCP registry or updates.
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        // A failing gateway fails the test at once instead of after retries.
        .env("CLAUDE_CODE_MAX_RETRIES", "0")
        .env("API_TIMEOUT_MS", "30000");
    for (k, v) in env {
        command.env(k, v);
    }
    let prompt = format!("Read {} and tell me the secret word.", sandbox.secret_file.display());
    let log = sandbox.home.join("claude-debug.log");
    command
        .args([
            "-p",
            &prompt,
            "--allowedTools",
            "Read",
            "--no-session-persistence",
            "--debug-file",
        ])
        .arg(&log);
    let files = Files {
        answer: None,
        log: Some(&log),
    };
    sandbox.run(command, files).await
}

/// The Read call on the sandbox's secret file.
fn read(sandbox: &Sandbox) -> ToolCall {
    ToolCall {
        name: "Read",
        arguments: json!({"file_path": sandbox.secret_file}),
    }
}

/// The reference run: Claude Code against the Anthropic mock itself. It proves
/// the mock speaks what Claude Code needs; the gateway runs must match it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_reads_a_file_through_the_anthropic_mock_directly() {
    let sandbox = Sandbox::new("PLUM-5521").await;
    let upstream = Upstream::start(Wire::Anthropic, read(&sandbox)).await;
    let env = [("ANTHROPIC_API_KEY", "sk-direct"), ("ANTHROPIC_MODEL", "mock-model")];
    let outcome = claude(&sandbox, &upstream.origin(), &env).await;
    upstream.assert_round_trip(&outcome, "PLUM-5521");
    let turn = &upstream.turns()[1];
    assert_eq!(turn.target, "/v1/messages?beta=true");
    assert_eq!(turn.header("x-api-key"), Some("sk-direct"));
    assert_eq!(turn.header("anthropic-version"), Some("2023-06-01"));
    assert!(turn
        .header("anthropic-beta")
        .is_some_and(|b| b.contains("claude-code-20250219")));
    assert_eq!(turn.json()["model"], "mock-model");
}

/// Claude Code with no model settings at all (it asks for `claude-opus-*`, and
/// `claude-haiku-*` for background work): one `claude-*` wildcard entry
/// catches both and sends them to a chat-only provider, translated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_reads_a_file_through_tollgate_on_a_chat_only_upstream() {
    let sandbox = Sandbox::new("QUINCE-7730").await;
    let upstream = Upstream::start(Wire::Chat, read(&sandbox)).await;
    let config = format!(
        "model_list:
  - model_name: claude-*
    litellm_params:
      model: openai/mock-chat
      api_base: {}/v1
      api_key: sk-upstream-chat
general_settings:
  master_key: {GATEWAY_KEY}
",
        upstream.origin()
    );
    let gateway = TestGateway::start(&config).await;
    let outcome = claude(&sandbox, &gateway.url(""), &[("ANTHROPIC_API_KEY", GATEWAY_KEY)]).await;
    upstream.assert_round_trip(&outcome, "QUINCE-7730");
    upstream.assert_never_saw(GATEWAY_KEY);
    let turn = &upstream.turns()[1];
    assert_eq!(turn.target, "/v1/chat/completions");
    assert_eq!(turn.header("authorization"), Some("Bearer sk-upstream-chat"));
    assert_eq!(turn.json()["model"], "mock-chat");
}

/// Claude Code on a model name of the config, and its background model on an
/// alias of it, passed through to an Anthropic upstream; its key sent as a
/// Bearer token this time, which the upstream must not see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_reads_a_file_through_tollgate_on_an_anthropic_upstream() {
    let sandbox = Sandbox::new("RAISIN-0419").await;
    let upstream = Upstream::start(Wire::Anthropic, read(&sandbox)).await;
    let config = format!(
        "model_list:
  - model_name: gw-claude
    litellm_params:
      model: anthropic/mock-claude
      api_base: {}
      api_key: sk-upstream-anthropic
router_settings:
  model_group_alias:
    gw-claude-small: gw-claude
general_settings:
  master_key: {GATEWAY_KEY}
",
        upstream.origin()
    );
    let gateway = TestGateway::start(&config).await;
    let env = [
        ("ANTHROPIC_AUTH_TOKEN", GATEWAY_KEY),
        ("ANTHROPIC_MODEL", "gw-claude"),
        ("ANTHROPIC_DEFAULT_HAIKU_MODEL", "gw-claude-small"),
    ];
    let outcome = claude(&sandbox, &gateway.url(""), &env).await;
    upstream.assert_round_trip(&outcome, "RAISIN-0419");
    upstream.assert_never_saw(GATEWAY_KEY);
    let turn = &upstream.turns()[1];
    assert_eq!(turn.target.split('?').next(), Some("/v1/messages"));
    assert_eq!(turn.header("x-api-key"), Some("sk-upstream-anthropic"));
    assert_eq!(turn.header("anthropic-version"), Some("2023-06-01"));
    assert!(
        turn.header("anthropic-beta")
            .is_some_and(|b| b.contains("claude-code-20250219")),
        "anthropic-beta forwarded"
    );
    assert_eq!(turn.json()["model"], "mock-claude");
}
