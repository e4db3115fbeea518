//! async-openai's `responses().create` and `create_stream` finish the same
//! function-call round trip on the chat-only upstream: a Rust client parses
//! every translated event and object with its own strict types.

use futures::StreamExt;
use serde_json::{json, Value};

use async_openai::types::responses::CreateResponse;

use crate::common::openai_client;
use crate::round_trip::{assert_seen, read_tool, start, GATEWAY_KEY, TOOL_OUTPUT};
use crate::upstream::{Wire, ANSWER};

/// One turn's final response as JSON, and the stream's event types.
async fn ask(base: &str, request: Value, streamed: bool) -> (Value, Vec<String>) {
    let request: CreateResponse = serde_json::from_value(request).unwrap();
    let client = openai_client(base, GATEWAY_KEY);
    if !streamed {
        let response = client.responses().create(request).await;
        let response = response.unwrap_or_else(|e| panic!("a response async-openai can read: {e}"));
        return (serde_json::to_value(response).unwrap(), Vec::new());
    }
    let mut events = client.responses().create_stream(request).await.unwrap();
    let (mut kinds, mut last) = (Vec::new(), Value::Null);
    while let Some(event) = events.next().await {
        let event = event.unwrap_or_else(|e| panic!("an event async-openai can read: {e}"));
        let event = serde_json::to_value(event).unwrap();
        kinds.push(event["type"].as_str().unwrap_or_default().to_string());
        if event["type"] == "response.completed" {
            last = event["response"].clone();
        }
    }
    (last, kinds)
}

async fn round_trip(streamed: bool) {
    let (upstream, gateway) = start(Wire::Chat).await;
    let base = gateway.url("/v1");
    let tools = json!([{"type": "function", "name": "Read", "parameters": {"type": "object"}}]);
    let ask_read = json!({"role": "user", "content": "Read /project/secret.txt"});
    let (first, kinds) = ask(
        &base,
        json!({"model": "gw-model", "input": [ask_read], "tools": tools}),
        streamed,
    )
    .await;
    let output = first["output"].as_array().cloned().unwrap_or_default();
    let call = output
        .iter()
        .find(|item| item["type"] == "function_call")
        .unwrap_or_else(|| panic!("a function_call item in {first} ({kinds:?})"))
        .clone();
    assert_eq!(call["name"], "Read");
    let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap_or_default()).unwrap();
    assert_eq!(arguments, read_tool().arguments);

    let output_item = json!({"type": "function_call_output", "call_id": call["call_id"], "output": TOOL_OUTPUT});
    let (second, kinds) = ask(
        &base,
        json!({"model": "gw-model", "input": [ask_read, call, output_item], "tools": tools}),
        streamed,
    )
    .await;
    if streamed {
        assert_eq!(kinds.first().map(String::as_str), Some("response.created"), "{kinds:?}");
        assert_eq!(
            kinds.last().map(String::as_str),
            Some("response.completed"),
            "{kinds:?}"
        );
    }
    assert_eq!(second["status"], "completed", "{second}");
    assert_eq!(second["model"], "gw-model");
    let text: String = second["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| item["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|part| part["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, format!("{ANSWER}{TOOL_OUTPUT}"));
    assert_eq!(second["usage"]["total_tokens"], 54, "{second}");
    assert_seen(&upstream, Wire::Chat, streamed, "functions.Read:1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_openai_streams_a_function_call_round_trip_on_a_chat_only_upstream() {
    round_trip(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_openai_finishes_a_whole_function_call_round_trip_on_a_chat_only_upstream() {
    round_trip(false).await;
}
