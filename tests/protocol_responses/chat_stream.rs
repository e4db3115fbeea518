//! Chat upstream streams translated to Responses through the chat decoder
//! and the Responses encoder: each fixture against its golden output, valid
//! by the strict validator, and identical at every chunk split point.

use tollgate::protocol::chat::Decoder;
use tollgate::protocol::events::Event;
use tollgate::protocol::responses::Encoder;

use crate::context;
use crate::validator::{validate, Outcome};

const CHAT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/protocol_responses/chat");

/// Translates the upstream bytes given in `chunks`, as the body wrapper
/// does: each chunk's events are encoded as soon as it is decoded.
fn translate(chunks: &[&[u8]]) -> Vec<u8> {
    let ctx = context(
        &[("multi_agent_v1__close_agent", "multi_agent_v1.close_agent")],
        &["apply_patch"],
    );
    let mut decoder = Decoder::new();
    let mut encoder = Encoder::new(ctx, "resp_golden".to_owned(), 1_764_547_200);
    let mut events: Vec<Event> = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk, &mut events);
        for event in events.drain(..) {
            encoder.event(&event, &mut out);
        }
    }
    decoder.finish(&mut events);
    for event in events.drain(..) {
        encoder.event(&event, &mut out);
    }
    encoder.end(&mut out);
    out
}

/// Runs one fixture: golden output, the validator, every split point.
fn check(name: &str) -> Outcome {
    let input = std::fs::read(format!("{CHAT}/{name}.sse")).unwrap_or_else(|e| panic!("{name}: {e}"));
    let whole = translate(&[&input]);
    let golden = format!("{CHAT}/{name}.responses.sse");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &whole).expect("golden written");
    }
    let want = std::fs::read(&golden).unwrap_or_else(|e| panic!("{golden}: {e} (UPDATE_GOLDEN=1 writes it)"));
    assert_eq!(
        String::from_utf8_lossy(&whole),
        String::from_utf8_lossy(&want),
        "{name}: golden output"
    );
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert!(
            translate(&[a, b]) == whole,
            "{name}: split at byte {at} changes the output"
        );
    }
    validate(&whole)
}

#[test]
fn text() {
    let out = check("text");
    assert_eq!(out.terminal, "response.completed");
    assert_eq!(out.items[0]["content"][0]["text"], "Hello, wörld — \"quoted\"\n");
    assert_eq!(out.response["usage"]["input_tokens"], 120);
    assert_eq!(out.response["usage"]["input_tokens_details"]["cached_tokens"], 64);
    assert_eq!(out.response["usage"]["output_tokens_details"]["reasoning_tokens"], 12);
    assert_eq!(out.response["usage"]["total_tokens"], 150);
}

#[test]
fn reasoning() {
    let out = check("reasoning");
    assert_eq!(out.items[0]["summary"][0]["text"], "Let me think.");
    assert_eq!(out.items[1]["content"][0]["text"], "The answer is 4.");
}

#[test]
fn tool_call_in_many_fragments() {
    let out = check("tool_fragments");
    assert_eq!(out.items[0]["content"][0]["text"], "I'll run it.");
    assert_eq!(out.items[1]["arguments"], "{\"cmd\": \"echo hello-codex\"}");
    assert_eq!(out.items[1]["call_id"], "call_abc");
}

#[test]
fn tool_call_with_name_and_arguments_in_one_chunk() {
    let out = check("tool_name_and_args");
    assert_eq!(out.items[0]["arguments"], "{\"cmd\": \"ls -la\"}");
}

#[test]
fn tool_arguments_only_with_the_finish() {
    let out = check("tool_args_at_finish");
    assert_eq!(out.items[0]["arguments"], "{\"cmd\": \"pwd\"}");
}

#[test]
fn parallel_tool_calls() {
    let out = check("tool_parallel");
    assert_eq!(out.terminal, "response.completed");
    assert_eq!(out.items[0]["arguments"], "{\"cmd\":\"ls\"}");
    assert_eq!(out.items[1]["arguments"], "{\"path\":\"/tmp/a.png\"}");
    assert_eq!(out.items[1]["call_id"], "call_p1");
}

#[test]
fn custom_apply_patch() {
    let out = check("custom_apply_patch");
    assert_eq!(out.items[0]["type"], "custom_tool_call");
    assert_eq!(
        out.items[0]["input"],
        "*** Begin Patch\n*** Add File: hello.txt\n+Hello, \"world\"\n*** End Patch\n"
    );
}

#[test]
fn namespaced_tool() {
    let out = check("namespace_tool");
    assert_eq!(
        (&out.items[0]["namespace"], &out.items[0]["name"]),
        (&"multi_agent_v1".into(), &"close_agent".into())
    );
}

#[test]
fn in_band_error() {
    let out = check("inband_error");
    assert_eq!(out.terminal, "response.failed");
    assert_eq!(out.response["error"]["code"], "rate_limit_exceeded");
}

#[test]
fn eof_midstream() {
    let out = check("eof_midstream");
    assert_eq!(out.terminal, "response.failed");
    assert_eq!(out.response["error"]["code"], "upstream_error");
}

#[test]
fn length_limit() {
    assert_eq!(check("length").terminal, "response.incomplete");
}
