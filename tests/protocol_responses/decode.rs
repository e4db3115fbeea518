//! Responses upstream answers → hub events, streamed and whole.

use serde_json::json;
use tollgate::protocol::events::{ErrorKind, Event, FinishReason, StreamError, Usage};
use tollgate::protocol::responses::{decode_answer, Decoder};

use crate::validator::parse_sse;
use crate::{context, encode};

/// Decodes an SSE stream event by event, and checks that the decoder's own
/// framing gives the same events at every split point of the bytes.
fn decode(bytes: &[u8]) -> Vec<Event> {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    for event in parse_sse(bytes) {
        decoder.event(event.data.to_string().as_bytes(), &mut out);
    }
    for at in 0..=bytes.len() {
        let mut decoder = Decoder::new();
        let mut framed = Vec::new();
        decoder.feed(&bytes[..at], &mut framed);
        decoder.feed(&bytes[at..], &mut framed);
        decoder.finish(&mut framed);
        // A stream without its terminal event is cut short at the end.
        let cut = framed.len() == out.len() + 1 && framed.last() == Some(&Event::Error(StreamError::cut_short()));
        assert!(framed == out || cut, "split at {at}: {framed:?}");
    }
    out
}

fn frames(events: &[serde_json::Value]) -> Vec<u8> {
    let mut out = String::new();
    for e in events {
        out.push_str(&format!(
            "event: {}\ndata: {e}\n\n",
            e["type"].as_str().unwrap_or_default()
        ));
    }
    out.into_bytes()
}

#[test]
fn openai_stream_decodes_to_text_calls_usage_and_finish() {
    let bytes = frames(&[
        json!({"type": "response.created", "response": {"id": "resp_up"}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "m1"}}),
        json!({"type": "response.output_text.delta", "item_id": "m1", "delta": "Hi"}),
        json!({"type": "response.output_item.done", "item": {"type": "message", "id": "m1", "content": [{"type": "output_text", "text": "Hi"}]}}),
        json!({"type": "response.output_item.added", "item": {"type": "function_call", "id": "fc1", "call_id": "call_1", "name": "f", "arguments": ""}}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "fc1", "delta": "{\"a\":"}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "fc1", "delta": "1}"}),
        json!({"type": "response.function_call_arguments.done", "item_id": "fc1", "arguments": "{\"a\":1}"}),
        json!({"type": "response.output_item.done", "item": {"type": "function_call", "id": "fc1", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"}}),
        json!({"type": "response.completed", "response": {"id": "resp_up", "status": "completed",
            "usage": {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 2}, "output_tokens": 7,
                      "output_tokens_details": {"reasoning_tokens": 1}, "total_tokens": 12}}}),
    ]);
    assert_eq!(
        decode(&bytes),
        [
            Event::Start {
                id: Some("resp_up".into())
            },
            Event::Text { text: "Hi".into() },
            Event::ToolStart {
                index: 0,
                id: "call_1".into(),
                name: "f".into()
            },
            Event::ToolArgs {
                index: 0,
                fragment: "{\"a\":".into()
            },
            Event::ToolArgs {
                index: 0,
                fragment: "1}".into()
            },
            Event::Usage(Usage {
                input: 5,
                cache_read: 2,
                cache_write: 0,
                output: 7,
                reasoning: 1
            }),
            Event::Finish {
                reason: FinishReason::ToolCalls
            },
            Event::Done,
        ]
    );
}

#[test]
fn arguments_only_at_done_are_adopted_once() {
    let bytes = frames(&[
        json!({"type": "response.output_item.added", "item": {"type": "function_call", "id": "fc1", "call_id": "c", "name": "f", "arguments": ""}}),
        json!({"type": "response.function_call_arguments.done", "item_id": "fc1", "arguments": "{\"x\":true}"}),
        json!({"type": "response.output_item.done", "item": {"type": "function_call", "id": "fc1", "call_id": "c", "name": "f", "arguments": "{\"x\":true}"}}),
        json!({"type": "response.completed", "response": {"status": "completed"}}),
    ]);
    let args: Vec<Event> = decode(&bytes)
        .into_iter()
        .filter(|e| matches!(e, Event::ToolArgs { .. }))
        .collect();
    assert_eq!(
        args,
        [Event::ToolArgs {
            index: 0,
            fragment: "{\"x\":true}".into()
        }]
    );
}

#[test]
fn items_seen_only_when_done_are_not_lost() {
    let bytes = frames(&[
        json!({"type": "response.output_item.done", "item": {"type": "reasoning", "id": "r", "summary": [{"type": "summary_text", "text": "hm"}]}}),
        json!({"type": "response.output_item.done", "item": {"type": "message", "id": "m", "content": [{"type": "output_text", "text": "ok"}]}}),
        json!({"type": "response.output_item.done", "item": {"type": "custom_tool_call", "id": "ct", "call_id": "c", "name": "apply_patch", "input": "*** Begin"}}),
        json!({"type": "response.completed", "response": {"status": "completed"}}),
    ]);
    let events = decode(&bytes);
    assert!(events.contains(&Event::Reasoning { text: "hm".into() }));
    assert!(events.contains(&Event::Text { text: "ok".into() }));
    assert!(events.contains(&Event::ToolArgs {
        index: 0,
        fragment: json!({"input": "*** Begin"}).to_string()
    }));
    assert_eq!(
        events[events.len() - 2..],
        [
            Event::Finish {
                reason: FinishReason::ToolCalls
            },
            Event::Done
        ]
    );
}

#[test]
fn failures_become_errors_with_their_kind() {
    let failed = frames(&[json!({"type": "response.failed", "response": {"status": "failed",
        "error": {"code": "rate_limit_exceeded", "message": "try again in 3s"}}})]);
    let error = StreamError {
        kind: ErrorKind::RateLimit,
        message: "try again in 3s".into(),
    };
    assert_eq!(decode(&failed).last(), Some(&Event::Error(error)));
    let bare = frames(&[json!({"type": "error", "code": "context_length_exceeded", "message": "too long"})]);
    assert!(matches!(
        decode(&bare).last(),
        Some(Event::Error(StreamError {
            kind: ErrorKind::ContextLength,
            ..
        }))
    ));
    let incomplete = frames(&[
        json!({"type": "response.incomplete", "response": {"status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"}}}),
    ]);
    assert_eq!(
        decode(&incomplete)[1..],
        [
            Event::Finish {
                reason: FinishReason::Length
            },
            Event::Done
        ]
    );
}

#[test]
fn our_own_stream_decodes_back_to_its_events() {
    let events = [
        Event::Start { id: None },
        Event::Reasoning { text: "think".into() },
        Event::Text { text: "say".into() },
        Event::ToolStart {
            index: 0,
            id: "call_1".into(),
            name: "exec_command".into(),
        },
        Event::ToolArgs {
            index: 0,
            fragment: "{\"cmd\":\"ls\"}".into(),
        },
        Event::Finish {
            reason: FinishReason::ToolCalls,
        },
        Event::Usage(Usage {
            input: 9,
            cache_read: 0,
            cache_write: 0,
            output: 4,
            reasoning: 0,
        }),
    ];
    let back = decode(&encode(context(&[], &[]), &events));
    assert_eq!(
        back[0],
        Event::Start {
            id: Some("resp_test".into())
        }
    );
    assert_eq!(&back[1..5], &events[1..5]);
    assert_eq!(back[5], events[6], "usage");
    assert_eq!(back[6], events[5], "finish");
    assert_eq!(back[7..], [Event::Done]);
}

#[test]
fn a_whole_answer_decodes_like_its_stream() {
    let body = json!({"id": "resp_w", "object": "response", "status": "completed", "output": [
        {"type": "reasoning", "id": "r", "summary": [{"type": "summary_text", "text": "why"}]},
        {"type": "message", "id": "m", "role": "assistant", "content": [{"type": "output_text", "text": "what"}]},
        {"type": "function_call", "id": "f", "call_id": "c1", "name": "g", "arguments": "{}"}
    ], "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}});
    assert_eq!(
        decode_answer(body.to_string().as_bytes()),
        [
            Event::Start {
                id: Some("resp_w".into())
            },
            Event::Reasoning { text: "why".into() },
            Event::Text { text: "what".into() },
            Event::ToolStart {
                index: 0,
                id: "c1".into(),
                name: "g".into()
            },
            Event::ToolArgs {
                index: 0,
                fragment: "{}".into()
            },
            Event::Usage(Usage {
                input: 1,
                cache_read: 0,
                cache_write: 0,
                output: 2,
                reasoning: 0
            }),
            Event::Finish {
                reason: FinishReason::ToolCalls
            },
            Event::Done,
        ]
    );
    assert!(matches!(decode_answer(b"<html>").as_slice(), [Event::Error(_)]));
}
