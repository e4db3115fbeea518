//! Chat completions: its stream decoder against real providers' shapes at
//! every split, its encoder against the chat validator, its request egress.

use serde_json::{json, Value};
use tollgate::protocol::answer::{Answer, AnswerCall};
use tollgate::protocol::chat;
use tollgate::protocol::events::{ErrorKind, Event, FinishReason, Usage};
use tollgate::protocol::hub::{ImageSource, Message, Part, Reasoning, Request, Role, Tool, ToolCall, ToolKind};

use crate::{fixture, splits, validate};

/// Decodes a chat stream delivered in these pieces.
fn decode(parts: &[&[u8]]) -> Vec<Event> {
    let mut decoder = chat::Decoder::new();
    let mut events = Vec::new();
    for part in parts {
        decoder.feed(part, &mut events);
    }
    decoder.finish(&mut events);
    events
}

/// Decodes a fixture delivered whole.
pub fn decode_fixture(name: &str) -> Vec<Event> {
    decode(&[&fixture(&format!("chat/{name}"))])
}

/// Decodes a fixture, checking that every way of splitting it gives the
/// very same events.
fn decode_fixture_split(name: &str) -> Vec<Event> {
    let bytes = fixture(&format!("chat/{name}"));
    let whole = decode(&[&bytes]);
    for parts in splits(&bytes) {
        let sizes: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(decode(&parts), whole, "{name} split as {sizes:?}");
    }
    whole
}

fn call(id: &str, name: &str, arguments: &str) -> AnswerCall {
    AnswerCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

fn usage(input: u64, cache_read: u64, cache_write: u64, output: u64, reasoning: u64) -> Usage {
    Usage {
        input,
        cache_read,
        cache_write,
        output,
        reasoning,
    }
}

/// The fixtures with what a client must end up with from each.
pub fn expected() -> Vec<(&'static str, Answer)> {
    let answer = |text: &str, reasoning: &str, calls: Vec<AnswerCall>, finish, usage| {
        let mut a = Answer {
            text: text.into(),
            calls,
            finish: Some(finish),
            usage,
            done: true,
            ..Answer::default()
        };
        if !reasoning.is_empty() {
            a.reasoning.push(tollgate::protocol::answer::ReasoningBlock {
                text: reasoning.into(),
                ..Default::default()
            });
        }
        a
    };
    use FinishReason::*;
    vec![
        (
            "openai_text.sse",
            answer(
                "Héllo wörld 👋 \"usage\": {}",
                "",
                vec![],
                Stop,
                usage(1200, 1024, 0, 300, 0),
            ),
        ),
        (
            "deepseek_reasoning.sse",
            answer(
                "Hi there.",
                "The user wants a greeting.",
                vec![],
                Stop,
                usage(900, 640, 0, 210, 150),
            ),
        ),
        (
            "openrouter_reasoning.sse",
            answer(
                "Done thinking.",
                "Let me think.",
                vec![],
                Stop,
                usage(50, 0, 10, 20, 12),
            ),
        ),
        (
            "tools_fragments.sse",
            answer(
                "",
                "",
                vec![call("call_Xy12", "Read", r#"{"file_path":"/tmp/a b.txt","limit":10}"#)],
                ToolCalls,
                usage(300, 0, 0, 25, 0),
            ),
        ),
        (
            "tools_name_and_args.sse",
            // Ollama says `stop` after a call: the answer's own reason is kept
            // here; encoders apply the tool override.
            answer(
                "Checking.",
                "",
                vec![call("call_k2x9", "Bash", r#"{"command":"ls -la"}"#)],
                Stop,
                usage(120, 0, 0, 18, 0),
            ),
        ),
        (
            "tools_args_with_finish.sse",
            answer(
                "",
                "",
                vec![call(
                    "chatcmpl-tool-aa11",
                    "Grep",
                    r#"{"pattern": "TODO", "path": "src"}"#,
                )],
                ToolCalls,
                usage(400, 0, 0, 30, 0),
            ),
        ),
        (
            "tools_parallel.sse",
            answer(
                "",
                "",
                vec![
                    call("call_A", "Read", r#"{"file_path":"/etc/hosts"}"#),
                    call("call_B", "Glob", r#"{"pattern":"**/*.rs"}"#),
                    call("call_C", "TaskList", ""),
                ],
                ToolCalls,
                usage(800, 512, 0, 60, 0),
            ),
        ),
        (
            "kimi_tools.sse",
            answer(
                "",
                "Need to list files.",
                vec![call("functions.Bash:0", "Bash", r#"{"command": "ls"}"#)],
                ToolCalls,
                usage(2000, 1536, 0, 40, 0),
            ),
        ),
        (
            "azure_empty_first.sse",
            answer("Azure says hi.", "", vec![], Stop, usage(10, 0, 0, 5, 0)),
        ),
    ]
}

#[test]
fn every_fixture_decodes_to_what_the_provider_said() {
    // Every split point of these fixtures is replayed through the whole
    // translation in `anthropic.rs`; here, what the decoder makes of them.
    for (name, want) in expected() {
        let mut got = Answer::collect(decode_fixture(name));
        got.id = None;
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn an_in_band_error_ends_the_stream_as_an_error() {
    let events = decode_fixture_split("inband_error.sse");
    assert_eq!(events[1], Event::Text { text: "Partial".into() });
    let Some(Event::Error(error)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(error.message, "Provider returned error");
    assert_eq!(error.kind, ErrorKind::Api);
    assert!(!events.contains(&Event::Done));
}

#[test]
fn a_stream_cut_before_its_finish_is_an_error_not_an_end() {
    let events = decode_fixture_split("eof_midstream.sse");
    assert!(matches!(events.last(), Some(Event::Error(_))), "{events:?}");
    assert!(!events.iter().any(|e| matches!(e, Event::Done | Event::Finish { .. })));
}

#[test]
fn the_azure_first_chunk_gives_no_id_and_no_content() {
    let events = decode_fixture("azure_empty_first.sse");
    assert_eq!(events[0], Event::Start { id: None });
    assert_eq!(
        events[1],
        Event::Text {
            text: "Azure says hi.".into()
        }
    );
}

/// Re-encodes decoded events for a chat client and reads them back.
fn reencode(events: Vec<Event>, include_usage: bool) -> (Vec<u8>, validate::Chat) {
    let mut encoder = chat::Encoder::new("client-model", "n0nce", 1, include_usage);
    let mut out = Vec::new();
    for event in events {
        encoder.event(event, &mut out);
    }
    let read = validate::chat(&out).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)));
    (out, read)
}

#[test]
fn the_encoder_restates_every_fixture_validly() {
    for (name, want) in expected() {
        let (bytes, got) = reencode(decode_fixture(name), true);
        assert_eq!(got.text, want.text, "{name}");
        let calls: Vec<(String, String, String)> = want
            .calls
            .iter()
            .map(|c| {
                (
                    c.id.clone(),
                    c.name.clone(),
                    if c.arguments.is_empty() {
                        "{}".into()
                    } else {
                        c.arguments.clone()
                    },
                )
            })
            .collect();
        let got_calls: Vec<(String, String, String)> = got
            .calls
            .iter()
            .map(|c| (c.id.clone(), c.name.clone(), c.arguments.clone()))
            .collect();
        assert_eq!(
            got_calls, calls,
            "{name}: arguments arrive whole, `{{}}` when none (R1)"
        );
        let usage = got.usage.expect("asked for usage");
        assert_eq!(usage["prompt_tokens"], want.usage.input, "{name}");
        assert_eq!(
            usage["prompt_tokens_details"]["cached_tokens"], want.usage.cache_read,
            "{name}"
        );
        assert_eq!(usage["completion_tokens"], want.usage.output, "{name}");
        assert!(bytes.ends_with(b"data: [DONE]\n\n"));
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.matches("\"role\":\"assistant\"").count(), 1, "the role goes once");
        assert!(
            text.contains("\"model\":\"client-model\""),
            "the requested model is echoed"
        );
    }
}

#[test]
fn usage_is_sent_only_when_the_client_asked() {
    let (bytes, got) = reencode(decode_fixture("openai_text.sse"), false);
    assert_eq!(got.usage, None);
    assert!(!String::from_utf8(bytes).unwrap().contains("\"choices\":[]"));
}

#[test]
fn a_tool_call_under_a_stop_reason_is_reported_as_tool_calls() {
    let (_, got) = reencode(decode_fixture("tools_name_and_args.sse"), false);
    assert_eq!(got.finish.as_deref(), Some("tool_calls"), "R4");
}

#[test]
fn errors_end_the_chat_stream_without_done() {
    for name in ["inband_error.sse", "eof_midstream.sse"] {
        let (bytes, got) = reencode(decode_fixture(name), true);
        let error = got.error.unwrap_or_else(|| panic!("{name}"));
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(!String::from_utf8(bytes).unwrap().contains("[DONE]"), "R8");
    }
}

#[test]
fn a_keepalive_is_a_comment_and_nothing_after_the_end() {
    let mut encoder = chat::Encoder::new("m", "n", 1, false);
    let mut out = Vec::new();
    encoder.keepalive(&mut out);
    assert_eq!(out, b": keepalive\n\n");
    encoder.event(Event::Done, &mut out);
    let len = out.len();
    encoder.keepalive(&mut out);
    encoder.event(Event::Text { text: "late".into() }, &mut out);
    assert_eq!(out.len(), len);
}

#[test]
fn a_whole_answer_decodes_to_the_events_of_its_stream() {
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "kimi-k2",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Looking.", "reasoning_content": "Think.",
            "tool_calls": [{"id": "functions.Read:0", "type": "function",
                            "function": {"name": "Read", "arguments": "{\"file_path\":\"/a\"}"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 4}}
    });
    let answer = Answer::collect(chat::decode_answer(body.to_string().as_bytes()));
    assert_eq!(answer.text, "Looking.");
    assert_eq!(answer.reasoning[0].text, "Think.");
    assert_eq!(
        answer.calls,
        vec![call("functions.Read:0", "Read", "{\"file_path\":\"/a\"}")]
    );
    assert_eq!(answer.usage, usage(10, 4, 0, 5, 0));
    assert!(answer.done);
    let json = chat::answer_json(&answer, "alias", "n", 7);
    assert_eq!(json["model"], "alias");
    assert_eq!(json["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(json["choices"][0]["message"]["reasoning_content"], "Think.");
    assert_eq!(
        json["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"file_path\":\"/a\"}"
    );
    assert_eq!(json["usage"]["prompt_tokens_details"]["cached_tokens"], 4);

    let error = chat::decode_answer(br#"{"error":{"message":"bad key","type":"authentication_error"}}"#);
    assert!(matches!(&error[..], [Event::Error(e)] if e.kind == ErrorKind::Authentication));
}

fn text(t: &str) -> Part {
    Part::Text {
        text: t.into(),
        cache: None,
    }
}

fn tool_turn(id: &str, parts: Vec<Part>, is_error: bool) -> Message {
    Message {
        tool_call_id: Some(id.into()),
        is_error,
        ..Message::new(Role::Tool, parts)
    }
}

#[test]
fn the_chat_body_follows_the_strict_servers_rules() {
    let png = Part::Image {
        source: ImageSource::Base64 {
            media_type: "image/png".into(),
            data: "iVBOR".into(),
        },
        cache: None,
    };
    let request = Request {
        model: "kimi-k2".into(),
        stream: true,
        max_tokens: Some(32000),
        messages: vec![
            Message::new(Role::System, vec![text("You are Claude Code."), text("Be brief.")]),
            Message::new(Role::User, vec![text("hi"), text("   ")]),
            Message::new(Role::System, vec![text("Available agent types: …")]),
            Message {
                reasoning: vec![Reasoning::Text {
                    text: "I should look.".into(),
                    signature: Some("sig".into()),
                }],
                tool_calls: vec![
                    ToolCall {
                        id: "functions.Read:0".into(),
                        name: "Read".into(),
                        arguments: "{\"file_path\":\"/a.png\"}".into(),
                        kind: ToolKind::Function,
                    },
                    ToolCall {
                        id: "call_2".into(),
                        name: "TaskList".into(),
                        arguments: String::new(),
                        kind: ToolKind::Function,
                    },
                ],
                ..Message::new(Role::Assistant, vec![text("")])
            },
            tool_turn("functions.Read:0", vec![text("an image:"), png.clone()], false),
            tool_turn("call_2", vec![text("no such task list")], true),
            Message::new(Role::User, vec![text("what is in it?")]),
        ],
        tools: vec![Tool {
            name: "Read".into(),
            description: None,
            parameters: json!({"type": "object", "$schema": "x"}),
            kind: ToolKind::Function,
            cache: None,
        }],
        ..Request::default()
    };
    let (body, renamed) = chat::build_request(&request);
    assert!(renamed.is_empty());
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "tool", "user"],
        "{body:#}"
    );
    let m = &body["messages"];
    assert_eq!(m[0]["content"], "You are Claude Code.\n\nBe brief.");
    assert_eq!(
        m[1]["content"],
        format!("hi\n\n{}\n\nAvailable agent types: …", chat::SYSTEM_MARKER),
        "a mid-conversation system turn is a marked user turn, merged, with no empty text (R5, R24)"
    );
    assert_eq!(m[2]["content"], Value::Null, "no text: content null");
    assert_eq!(m[2]["reasoning_content"], "I should look.", "R6");
    assert_eq!(m[2]["tool_calls"][1]["function"]["arguments"], "{}");
    assert_eq!(m[3]["content"], "an image:");
    assert_eq!(m[4]["content"], format!("{}no such task list", chat::ERROR_PREFIX));
    assert_eq!(
        m[5]["content"][0]["image_url"]["url"], "data:image/png;base64,iVBOR",
        "R14: images stay images"
    );
    assert_eq!(m[5]["content"][1]["text"], "what is in it?");
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["tools"][0]["function"]["parameters"]["$schema"], "x");
}

#[test]
fn long_tool_names_go_short_and_are_reported() {
    let long = format!("mcp__github__{}", "list_pull_request_review_comments_".repeat(3));
    let request = Request {
        tools: vec![Tool {
            name: long.clone(),
            description: None,
            parameters: json!({}),
            kind: ToolKind::Function,
            cache: None,
        }],
        messages: vec![Message {
            tool_calls: vec![ToolCall {
                id: "c".into(),
                name: long.clone(),
                arguments: "{}".into(),
                kind: ToolKind::Function,
            }],
            ..Message::new(Role::Assistant, vec![])
        }],
        ..Request::default()
    };
    let (body, renamed) = chat::build_request(&request);
    let sent = body["tools"][0]["function"]["name"].as_str().unwrap();
    assert!(sent.len() <= 64);
    assert_eq!(body["messages"][0]["tool_calls"][0]["function"]["name"], sent);
    assert_eq!(renamed, vec![(sent.to_owned(), long)]);
}

#[test]
fn a_chat_request_parses_into_the_hub() {
    let body = json!({
        "model": "claude-sonnet", "stream": true, "stream_options": {"include_usage": true},
        "max_completion_tokens": 100, "stop": "END", "user": "u1", "reasoning_effort": "low",
        "parallel_tool_calls": false, "tool_choice": {"type": "function", "function": {"name": "Read"}},
        "messages": [
            {"role": "developer", "content": "Be terse."},
            {"role": "user", "content": [{"type": "text", "text": "look"},
                                         {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "Read", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"}
        ],
        "tools": [{"type": "function", "function": {"name": "Read", "parameters": {"type": "object"}}}]
    });
    let (request, include_usage) = chat::parse_request(body.to_string().as_bytes()).unwrap();
    assert!(include_usage && request.stream);
    assert_eq!(request.max_tokens, Some(100));
    assert_eq!(request.stop, ["END"]);
    assert_eq!(request.messages[0].role, Role::System);
    assert_eq!(
        request.messages[1].parts[1],
        Part::Image {
            source: ImageSource::Base64 {
                media_type: "image/jpeg".into(),
                data: "/9j/".into()
            },
            cache: None
        }
    );
    assert_eq!(request.messages[2].tool_calls[0].id, "call_1");
    assert_eq!(request.messages[3].tool_call_id.as_deref(), Some("call_1"));

    let bad = chat::parse_request(br#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#).unwrap_err();
    assert_eq!(bad.field(), Some("messages.0.role"));
    let bad = chat::parse_request(br#"{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio"}]}]}"#)
        .unwrap_err();
    assert_eq!(bad.field(), Some("messages.0.content.0.type"));
}
