//! The openai Python SDK through tollgate: `responses.create`'s function-call
//! round trip, streamed and not, translated for a chat-only upstream; and its
//! chat client on an `anthropic/` deployment, streamed with usage.

use serde_json::{json, Value};

use crate::python;
use crate::round_trip::{assert_seen, read_tool, start, GATEWAY_KEY, TOOL_OUTPUT};
use crate::upstream::{Wire, ANSWER};

async fn responses_round_trip(streamed: bool) {
    let (upstream, gateway) = start(Wire::Chat).await;
    let mode = if streamed { "stream" } else { "whole" };
    let outcome = python::run(
        "responses_tools.py",
        &[&gateway.url("/v1"), GATEWAY_KEY, "gw-model", mode],
    )
    .await;
    let report = outcome.report();
    let context = format!("{outcome}\nupstream received:\n{}", upstream.summary());
    let [first_body, _] = assert_seen(&upstream, Wire::Chat, streamed, "functions.Read:1");
    assert_eq!(first_body["model"], "mock-chat", "{context}");
    assert_eq!(first_body["tools"][0]["function"]["name"], "Read", "{context}");

    let (first, second) = (&report["first"], &report["second"]);
    assert_eq!(first["status"], "completed", "{context}");
    assert_eq!(first["name"], "Read", "{context}");
    assert_eq!(first["arguments"], read_tool().arguments, "{context}");
    assert_eq!(second["status"], "completed", "{context}");
    assert_eq!(second["text"], format!("{ANSWER}{TOOL_OUTPUT}"), "{context}");
    for answer in [first, second] {
        assert_eq!(answer["model"], "gw-model", "the requested name comes back\n{context}");
    }
    assert_eq!(
        second["usage"],
        json!({"input_tokens": 42, "output_tokens": 12, "total_tokens": 54}),
        "{context}"
    );
    if streamed {
        for answer in [first, second] {
            let events: Vec<&str> = answer["events"]
                .as_array()
                .map(|e| e.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            assert_eq!(events.first(), Some(&"response.created"), "{context}");
            assert_eq!(events.last(), Some(&"response.completed"), "{context}");
            assert!(events.contains(&"response.output_item.done"), "{context}");
        }
        let first_events = first["events"].as_array().cloned().unwrap_or_default();
        assert!(
            first_events.contains(&json!("response.function_call_arguments.delta")),
            "{context}"
        );
        let deltas = second["deltas"].as_array().cloned().unwrap_or_default();
        let joined: String = deltas.iter().filter_map(Value::as_str).collect();
        assert!(deltas.len() > 1, "the text arrived in pieces\n{context}");
        assert_eq!(joined, second["text"].as_str().unwrap_or_default(), "{context}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_responses_function_call_round_trip_on_a_chat_only_upstream() {
    responses_round_trip(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_responses_function_call_round_trip_on_a_chat_only_upstream() {
    responses_round_trip(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_client_streams_with_usage_from_an_anthropic_deployment() {
    let (upstream, gateway) = start(Wire::Anthropic).await;
    let outcome = python::run("chat_usage.py", &[&gateway.url("/v1"), GATEWAY_KEY, "gw-model"]).await;
    let report = outcome.report();
    let context = format!("{outcome}\nupstream received:\n{}", upstream.summary());
    assert_eq!(report["text"], "Nothing to do.", "{context}");
    assert_eq!(report["finish_reason"], "stop", "{context}");
    assert_eq!(report["model"], "gw-model", "{context}");
    assert_eq!(
        report["usage"],
        json!({"prompt_tokens": 42, "completion_tokens": 12, "total_tokens": 54, "choices": 0}),
        "usage in its own chunk with no choices, as OpenAI sends it\n{context}"
    );
    assert_eq!(report["chunks_after_usage"], 0, "the usage chunk comes last\n{context}");

    let calls = upstream.calls();
    assert_eq!(calls.len(), 1, "{context}");
    let call = &calls[0];
    assert_eq!(call.target, "/v1/messages", "{context}");
    assert_eq!(call.header("x-api-key"), Some("sk-upstream-sdk"), "{context}");
    let body = call.json();
    assert_eq!(body["model"], "mock-claude", "{context}");
    assert_eq!(body["stream"], true, "{context}");
    assert!(
        body["max_tokens"].as_u64().is_some_and(|m| m > 0),
        "max_tokens filled\n{context}"
    );
    assert!(
        body.get("stream_options").is_none(),
        "no chat-only field upstream\n{context}"
    );
    upstream.assert_never_saw(GATEWAY_KEY);
}
