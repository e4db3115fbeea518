//! A real chat client (async-openai) finishes the same tool round trip on the
//! chat-only upstream through tollgate's chat route, with the config the Claude
//! Code test uses: the reference the translated paths must match.

use futures::StreamExt;
use serde_json::{json, Value};

use async_openai::types::chat::{CreateChatCompletionRequest, FinishReason};

use crate::common::{openai_client, TestGateway};
use crate::upstream::{ToolCall, Upstream, Wire, ANSWER};

/// What one streamed answer adds up to.
#[derive(Default)]
struct Streamed {
    text: String,
    call_id: String,
    name: String,
    arguments: String,
    finish: Option<FinishReason>,
}

async fn stream(base: &str, request: Value) -> Streamed {
    let request: CreateChatCompletionRequest = serde_json::from_value(request).unwrap();
    let client = openai_client(base, "sk-tollgate-e2e-chat");
    let mut chunks = client.chat().create_stream(request).await.unwrap();
    let mut out = Streamed::default();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.unwrap_or_else(|e| panic!("a chat chunk async-openai can read: {e}"));
        for choice in chunk.choices {
            out.text.push_str(choice.delta.content.as_deref().unwrap_or_default());
            for call in choice.delta.tool_calls.into_iter().flatten() {
                out.call_id.push_str(call.id.as_deref().unwrap_or_default());
                let function = call.function.unwrap_or_default();
                out.name.push_str(function.name.as_deref().unwrap_or_default());
                out.arguments
                    .push_str(function.arguments.as_deref().unwrap_or_default());
            }
            out.finish = choice.finish_reason.or(out.finish);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_client_finishes_the_tool_round_trip_on_the_chat_only_upstream() {
    let read = ToolCall {
        name: "Read",
        arguments: json!({"file_path": "/project/secret.txt"}),
    };
    let upstream = Upstream::start(Wire::Chat, read).await;
    let config = format!(
        "model_list:
  - model_name: claude-*
    litellm_params:
      model: openai/mock-chat
      api_base: {}/v1
      api_key: sk-upstream-chat
general_settings:
  master_key: sk-tollgate-e2e-chat
",
        upstream.origin()
    );
    let gateway = TestGateway::start(&config).await;
    let base = gateway.url("/v1");
    let tools = json!([{"type": "function", "function": {"name": "Read", "parameters": {"type": "object"}}}]);
    let ask = json!({"role": "user", "content": "Read /project/secret.txt"});
    let first = stream(
        &base,
        json!({"model": "claude-opus-4-8", "stream": true, "messages": [ask], "tools": tools}),
    )
    .await;
    assert_eq!(first.finish, Some(FinishReason::ToolCalls));
    assert_eq!(first.name, "Read");
    let arguments: Value = serde_json::from_str(&first.arguments).unwrap();
    assert_eq!(arguments, json!({"file_path": "/project/secret.txt"}));

    let call =
        json!({"id": first.call_id, "type": "function", "function": {"name": "Read", "arguments": first.arguments}});
    let messages = json!([ask, {"role": "assistant", "tool_calls": [call]},
                          {"role": "tool", "tool_call_id": first.call_id, "content": "the secret word is UMBER-3390"}]);
    let second = stream(
        &base,
        json!({"model": "claude-opus-4-8", "stream": true, "messages": messages, "tools": tools}),
    )
    .await;
    assert_eq!(second.finish, Some(FinishReason::Stop));
    assert_eq!(second.text, format!("{ANSWER}the secret word is UMBER-3390"));
    let turns = upstream.turns();
    assert_eq!(turns.len(), 2, "{}", upstream.summary());
    assert_eq!(turns[1].json()["model"], "mock-chat");
    upstream.assert_never_saw("sk-tollgate-e2e-chat");
}
