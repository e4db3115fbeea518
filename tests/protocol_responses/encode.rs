//! Hub events → Responses stream: each shape Codex meets, checked by the
//! validator and by what the items say.

use serde_json::json;
use tollgate::protocol::events::{ErrorKind, Event, FinishReason, StreamError, Usage};
use tollgate::protocol::responses::{answer, Encoder};

use crate::validator::{parse_sse, validate};
use crate::{context, encode};

fn start() -> Event {
    Event::Start {
        id: Some("chatcmpl-1".into()),
    }
}
fn text(t: &str) -> Event {
    Event::Text { text: t.into() }
}
fn reasoning(t: &str) -> Event {
    Event::Reasoning { text: t.into() }
}
fn tool(index: usize, id: &str, name: &str) -> Event {
    Event::ToolStart {
        index,
        id: id.into(),
        name: name.into(),
    }
}
fn args(index: usize, fragment: &str) -> Event {
    Event::ToolArgs {
        index,
        fragment: fragment.into(),
    }
}
fn finish(reason: FinishReason) -> Event {
    Event::Finish { reason }
}
fn usage() -> Event {
    Event::Usage(Usage {
        input: 42,
        cache_read: 10,
        cache_write: 0,
        output: 12,
        reasoning: 3,
    })
}

#[test]
fn text_answer_completes_with_the_whole_message_and_usage() {
    let out = validate(&encode(
        context(&[], &[]),
        &[start(), text("Hel"), text("lo"), finish(FinishReason::Stop), usage()],
    ));
    assert_eq!(out.terminal, "response.completed");
    assert_eq!(out.items.len(), 1);
    assert_eq!(out.items[0]["content"][0]["text"], "Hello");
    assert_eq!(out.items[0]["role"], "assistant");
    let usage = &out.response["usage"];
    assert_eq!(usage["input_tokens"], 42);
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 10);
    assert_eq!(usage["output_tokens"], 12);
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 3);
    assert_eq!(usage["total_tokens"], 54);
    assert_eq!(out.response["id"], "resp_test");
    assert_eq!(out.response["model"], "gw-full");
}

#[test]
fn reasoning_becomes_a_reasoning_item_before_the_message() {
    let events = [
        start(),
        reasoning("think "),
        reasoning("hard"),
        text("answer"),
        finish(FinishReason::Stop),
    ];
    let out = validate(&encode(context(&[], &[]), &events));
    assert_eq!(out.items[0]["type"], "reasoning");
    assert_eq!(out.items[0]["summary"][0]["text"], "think hard");
    assert_eq!(out.items[1]["content"][0]["text"], "answer");
}

#[test]
fn one_tool_call_streams_its_arguments_with_stable_ids() {
    let events = [
        start(),
        text("Running it."),
        tool(0, "call_1", "exec_command"),
        args(0, "{\"cmd\""),
        args(0, ": \"echo hi\"}"),
        finish(FinishReason::ToolCalls),
        usage(),
    ];
    let bytes = encode(context(&[], &[]), &events);
    let out = validate(&bytes);
    assert_eq!(out.items.len(), 2);
    let call = &out.items[1];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "exec_command");
    assert_eq!(call["call_id"], "call_1");
    assert_eq!(call["arguments"], "{\"cmd\": \"echo hi\"}");
    let deltas = parse_sse(&bytes)
        .iter()
        .filter(|e| e.name == "response.function_call_arguments.delta")
        .count();
    assert_eq!(deltas, 2, "fragments stream as they come");
}

#[test]
fn parallel_calls_with_interleaved_fragments_stay_whole_and_separate() {
    let events = [
        start(),
        tool(0, "call_a", "exec_command"),
        tool(1, "call_b", "view_image"),
        args(0, "{\"cmd\":"),
        args(1, "{\"path\":"),
        args(1, "\"/tmp/x.png\"}"),
        args(0, "\"ls\"}"),
        finish(FinishReason::ToolCalls),
    ];
    let out = validate(&encode(context(&[], &[]), &events));
    assert_eq!(out.items.len(), 2);
    assert_eq!(out.items[0]["call_id"], "call_a");
    assert_eq!(out.items[0]["arguments"], "{\"cmd\":\"ls\"}");
    assert_eq!(out.items[1]["call_id"], "call_b");
    assert_eq!(out.items[1]["name"], "view_image");
    assert_eq!(out.items[1]["arguments"], "{\"path\":\"/tmp/x.png\"}");
}

#[test]
fn a_call_without_arguments_gets_an_empty_object() {
    let events = [start(), tool(0, "call_1", "get_goal"), finish(FinishReason::ToolCalls)];
    let out = validate(&encode(context(&[], &[]), &events));
    assert_eq!(out.items[0]["arguments"], "{}");
}

#[test]
fn custom_tool_calls_come_back_as_custom_tool_call_with_the_unwrapped_input() {
    let patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n";
    let wrapped = json!({ "input": patch }).to_string();
    let (a, b) = wrapped.split_at(9);
    let events = [
        start(),
        tool(0, "call_p", "apply_patch"),
        args(0, a),
        args(0, b),
        finish(FinishReason::ToolCalls),
    ];
    let out = validate(&encode(context(&[], &["apply_patch"]), &events));
    let item = &out.items[0];
    assert_eq!(
        item["type"], "custom_tool_call",
        "never function_call for a custom tool"
    );
    assert_eq!(item["input"], patch);
    assert_eq!(item["name"], "apply_patch");
    assert_eq!(item["call_id"], "call_p");
}

#[test]
fn namespaced_tools_come_back_under_their_namespace() {
    let ctx = context(&[("multi_agent_v1__close_agent", "multi_agent_v1.close_agent")], &[]);
    let events = [
        start(),
        tool(0, "call_1", "multi_agent_v1__close_agent"),
        args(0, "{}"),
        finish(FinishReason::ToolCalls),
    ];
    let out = validate(&encode(ctx, &events));
    assert_eq!(out.items[0]["name"], "close_agent");
    assert_eq!(out.items[0]["namespace"], "multi_agent_v1");
}

#[test]
fn text_after_a_call_still_arrives_whole() {
    let events = [
        start(),
        tool(0, "call_1", "exec_command"),
        args(0, "{}"),
        text("late"),
        finish(FinishReason::ToolCalls),
    ];
    let out = validate(&encode(context(&[], &[]), &events));
    assert_eq!(out.items[0]["type"], "function_call");
    assert_eq!(out.items[1]["content"][0]["text"], "late");
}

#[test]
fn the_length_limit_ends_incomplete() {
    let out = validate(&encode(
        context(&[], &[]),
        &[start(), text("cut"), finish(FinishReason::Length)],
    ));
    assert_eq!(out.terminal, "response.incomplete");
    assert_eq!(out.response["incomplete_details"]["reason"], "max_output_tokens");
}

#[test]
fn an_in_band_error_fails_the_response_with_its_code() {
    let error = StreamError {
        kind: ErrorKind::ContextLength,
        message: "prompt is too long".into(),
    };
    let events = [
        start(),
        text("par"),
        Event::Error(error),
        text("ignored"),
        finish(FinishReason::Stop),
    ];
    let out = validate(&encode(context(&[], &[]), &events));
    assert_eq!(out.terminal, "response.failed");
    assert_eq!(out.response["error"]["code"], "context_length_exceeded");
    assert_eq!(out.response["error"]["message"], "prompt is too long");
}

#[test]
fn a_stream_cut_before_its_finish_fails_never_completes() {
    let out = validate(&encode(context(&[], &[]), &[start(), text("half an ans")]));
    assert_eq!(out.terminal, "response.failed");
    assert_eq!(out.response["error"]["code"], "upstream_error");
}

#[test]
fn an_upstream_that_said_nothing_still_gets_a_whole_stream() {
    let out = validate(&encode(context(&[], &[]), &[]));
    assert_eq!(out.terminal, "response.failed");
}

#[test]
fn keepalives_are_events_with_their_own_sequence_numbers() {
    let mut encoder = Encoder::new(context(&[], &[]), "resp_k".into(), 1);
    let mut out = Vec::new();
    encoder.keepalive(&mut out);
    encoder.event(&text("a"), &mut out);
    encoder.keepalive(&mut out);
    encoder.event(&finish(FinishReason::Stop), &mut out);
    encoder.keepalive(&mut out);
    encoder.end(&mut out);
    let before = out.len();
    encoder.keepalive(&mut out);
    assert_eq!(out.len(), before, "nothing after the terminal event");
    let events = parse_sse(&out);
    assert_eq!(events.iter().filter(|e| e.name == "response.in_progress").count(), 3);
    validate(&out);
}

#[test]
fn every_event_goes_out_as_soon_as_it_is_known() {
    let mut encoder = Encoder::new(context(&[], &[]), "resp_x".into(), 1);
    let mut out = Vec::new();
    encoder.event(&text("first"), &mut out);
    let events = parse_sse(&out);
    assert_eq!(
        events.last().map(|e| e.name.as_str()),
        Some("response.output_text.delta")
    );
}

#[test]
fn the_non_streamed_answer_is_the_completed_response() {
    let events = [
        start(),
        reasoning("r"),
        text("t"),
        tool(0, "c", "exec_command"),
        args(0, "{}"),
        finish(FinishReason::ToolCalls),
        usage(),
    ];
    let streamed = validate(&encode(context(&[], &[]), &events)).response;
    let whole = answer(context(&[], &[]), "resp_test".into(), 1_700_000_000, &events);
    assert_eq!(whole, streamed);
    assert_eq!(whole["status"], "completed");
    assert_eq!(whole["output"].as_array().map(Vec::len), Some(3));
    serde_json::from_value::<async_openai::types::responses::Response>(whole).expect("the SDK reads the answer");
}
