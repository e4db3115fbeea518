//! The anthropic Python SDK's tool round trip, streamed and not, through
//! `/v1/messages`: translated for a chat-only upstream, passed through to an
//! `anthropic/` one.

use serde_json::{json, Value};

use crate::python;
use crate::round_trip::{assert_seen, read_tool, start, GATEWAY_KEY, TOOL_OUTPUT};
use crate::upstream::{Wire, ANSWER};

/// Anthropic's rule for tool ids, which Kimi-style `functions.Read:1` breaks.
fn valid_anthropic_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Runs the SDK's round trip through tollgate to an upstream of `wire` and
/// checks both ends; returns the SDK's report and the upstream's two bodies.
async fn round_trip(wire: Wire, streamed: bool) -> (Value, [Value; 2]) {
    let (upstream, gateway) = start(wire).await;
    let mode = if streamed { "stream" } else { "whole" };
    let outcome = python::run("anthropic_tools.py", &[&gateway.url(""), GATEWAY_KEY, "gw-model", mode]).await;
    let report = outcome.report();
    let context = format!("{outcome}\nupstream received:\n{}", upstream.summary());
    let issued = match wire {
        Wire::Chat => "functions.Read:1",
        _ => "toolu_mock1",
    };
    let bodies = assert_seen(&upstream, wire, streamed, issued);
    let turn = &upstream.turns()[0];
    match wire {
        Wire::Anthropic => {
            assert_eq!(turn.header("x-api-key"), Some("sk-upstream-sdk"), "{context}");
            assert!(turn.header("anthropic-version").is_some(), "{context}");
        }
        _ => assert_eq!(
            turn.header("authorization"),
            Some("Bearer sk-upstream-sdk"),
            "{context}"
        ),
    }

    let (first, second) = (&report["first"], &report["second"]);
    assert_eq!(first["stop_reason"], "tool_use", "{context}");
    assert_eq!(first["name"], "Read", "{context}");
    assert_eq!(first["input"], read_tool().arguments, "{context}");
    let id = first["id"].as_str().unwrap_or_default();
    assert!(
        valid_anthropic_id(id),
        "an id Anthropic clients accept: {id:?}\n{context}"
    );
    assert_eq!(second["stop_reason"], "end_turn", "{context}");
    assert_eq!(second["text"], format!("{ANSWER}{TOOL_OUTPUT}"), "{context}");
    // Translated answers name the requested model; passed-through ones are
    // the upstream's bytes, as on the chat route.
    let model = match wire {
        Wire::Anthropic => "mock-claude",
        _ => "gw-model",
    };
    for answer in [first, second] {
        assert_eq!(answer["model"], model, "{context}");
    }
    assert_eq!(
        second["usage"],
        json!({"input_tokens": 42, "output_tokens": 12}),
        "the upstream's usage, whole\n{context}"
    );
    if streamed {
        let deltas = second["deltas"].as_array().cloned().unwrap_or_default();
        let joined: String = deltas.iter().filter_map(Value::as_str).collect();
        assert!(deltas.len() > 1, "the text arrived in pieces\n{context}");
        assert_eq!(joined, second["text"].as_str().unwrap_or_default(), "{context}");
        let events = &second["events"];
        assert_eq!(events[0], "message_start", "{context}");
        assert_eq!(
            events.as_array().and_then(|e| e.last()),
            Some(&json!("message_stop")),
            "{context}"
        );
    }
    (report, bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_tool_round_trip_on_a_chat_only_upstream() {
    let (report, [first, _]) = round_trip(Wire::Chat, true).await;
    // Kimi's id went to the client wrapped, and came back unwrapped.
    assert_ne!(report["first"]["id"], "functions.Read:1");
    assert_eq!(first["model"], "mock-chat");
    assert_eq!(first["tools"][0]["function"]["name"], "Read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_tool_round_trip_on_a_chat_only_upstream() {
    let (report, [first, _]) = round_trip(Wire::Chat, false).await;
    assert_ne!(report["first"]["id"], "functions.Read:1");
    assert_eq!(first["model"], "mock-chat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_tool_round_trip_passed_through_to_anthropic() {
    let (report, [first, _]) = round_trip(Wire::Anthropic, true).await;
    assert_eq!(report["first"]["id"], "toolu_mock1", "ids pass through untouched");
    assert_eq!(first["model"], "mock-claude");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_tool_round_trip_passed_through_to_anthropic() {
    let (report, [first, _]) = round_trip(Wire::Anthropic, false).await;
    assert_eq!(report["first"]["id"], "toolu_mock1");
    assert_eq!(first["model"], "mock-claude");
}
