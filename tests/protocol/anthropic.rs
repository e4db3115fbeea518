//! Anthropic Messages: chat streams translated for Claude Code, Anthropic
//! streams translated for chat clients, both at every split point through
//! the façade, and the request translations both ways.

use serde_json::{json, Value};
use tollgate::protocol::events::{ErrorKind, StreamError};
use tollgate::protocol::{
    anthropic, chat, error_body, translate_answer_seeded, translate_error, translate_request, Context, Format,
    ProtocolError, RequestDefaults, Translator,
};

use crate::validate::{self, Block};
use crate::{fixture, golden, splits};

pub fn context(client: Format, upstream: Format, include_usage: bool) -> Context {
    Context {
        client,
        upstream,
        model: "claude-opus-4-8".into(),
        include_usage,
        tool_names: Vec::new(),
        custom_tools: Vec::new(),
        input_estimate: 777,
    }
}

/// Translates a stream delivered in these pieces, the way the body wrapper
/// drives the translator.
pub fn translate(ctx: &Context, parts: &[&[u8]]) -> Vec<u8> {
    let mut translator = Translator::with_seed(ctx, "N0nce123", 1_764_547_200).unwrap();
    let mut out = translator.start().to_vec();
    for part in parts {
        out.extend_from_slice(&translator.feed(part));
    }
    out.extend_from_slice(&translator.finish());
    out
}

/// Translates a fixture, checking every way of splitting it gives the
/// very same bytes.
fn translate_split(ctx: &Context, path: &str) -> Vec<u8> {
    let bytes = fixture(path);
    let whole = translate(ctx, &[&bytes]);
    for parts in splits(&bytes) {
        let sizes: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert!(translate(ctx, &parts) == whole, "{path} split as {sizes:?}");
    }
    whole
}

fn claude(bytes: &[u8]) -> validate::Anthropic {
    validate::anthropic(bytes).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(bytes)))
}

const CHAT_FIXTURES: [&str; 11] = [
    "openai_text.sse",
    "deepseek_reasoning.sse",
    "openrouter_reasoning.sse",
    "tools_fragments.sse",
    "tools_name_and_args.sse",
    "tools_args_with_finish.sse",
    "tools_parallel.sse",
    "kimi_tools.sse",
    "azure_empty_first.sse",
    "inband_error.sse",
    "eof_midstream.sse",
];

#[test]
fn chat_streams_reach_claude_code_in_a_valid_grammar_at_every_split() {
    let ctx = context(Format::Anthropic, Format::Chat, false);
    let outputs: Vec<(&str, Vec<u8>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = CHAT_FIXTURES
            .iter()
            .map(|name| {
                let ctx = &ctx;
                scope.spawn(move || (*name, translate_split(ctx, &format!("chat/{name}"))))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (name, bytes) in outputs {
        let got = claude(&bytes);
        assert_eq!(
            got.model, "claude-opus-4-8",
            "{name}: the requested model is echoed (R17)"
        );
        assert_eq!(
            got.start_usage["input_tokens"], 777,
            "{name}: message_start states the estimate"
        );
        golden(&format!("chat_to_anthropic/{name}"), &bytes);
    }
}

/// The blocks a client assembled from a fixture's translation.
fn claude_blocks(name: &str) -> validate::Anthropic {
    let ctx = context(Format::Anthropic, Format::Chat, false);
    claude(&translate(&ctx, &[&fixture(&format!("chat/{name}"))]))
}

#[test]
fn text_and_reasoning_become_thinking_then_text_blocks() {
    let got = claude_blocks("deepseek_reasoning.sse");
    assert_eq!(
        got.blocks,
        vec![
            Block::Thinking {
                text: "The user wants a greeting.".into(),
                signature: String::new()
            },
            Block::Text("Hi there.".into()),
        ],
        "no signature is invented (R6)"
    );
    assert_eq!(got.stop_reason.as_deref(), Some("end_turn"));
    let got = claude_blocks("openrouter_reasoning.sse");
    assert!(matches!(&got.blocks[0], Block::Thinking { text, .. } if text == "Let me think."));
    let got = claude_blocks("openai_text.sse");
    assert_eq!(
        got.blocks,
        vec![Block::Text("Héllo wörld 👋 \"usage\": {}".into())],
        "no empty leading block (R2)"
    );
}

#[test]
fn usage_arrives_whole_in_message_delta_from_each_place_chat_puts_it() {
    // (fixture, input excl. cache, cache read, cache creation, output)
    for (name, input, read, write, output) in [
        ("openai_text.sse", 176, 1024, 0, 300),     // a trailing choices:[] chunk
        ("tools_name_and_args.sse", 120, 0, 0, 18), // the finish chunk
        ("kimi_tools.sse", 464, 1536, 0, 40),       // choices[0].usage
        ("deepseek_reasoning.sse", 260, 640, 0, 210),
        ("openrouter_reasoning.sse", 40, 0, 10, 20),
    ] {
        let got = claude_blocks(name);
        assert_eq!(
            got.usage,
            json!({"input_tokens": input, "cache_creation_input_tokens": write,
                   "cache_read_input_tokens": read, "output_tokens": output}),
            "{name} (R3)"
        );
    }
}

fn tools(got: &validate::Anthropic) -> Vec<(String, String, Value)> {
    got.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Tool { id, name, input, .. } => Some((id.clone(), name.clone(), input.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn tool_arguments_arrive_whole_in_every_split_shape() {
    for (name, want) in [
        (
            "tools_fragments.sse",
            vec![("Read", json!({"file_path": "/tmp/a b.txt", "limit": 10}))],
        ),
        ("tools_name_and_args.sse", vec![("Bash", json!({"command": "ls -la"}))]),
        (
            "tools_args_with_finish.sse",
            vec![("Grep", json!({"pattern": "TODO", "path": "src"}))],
        ),
        (
            "tools_parallel.sse",
            vec![
                ("Read", json!({"file_path": "/etc/hosts"})),
                ("Glob", json!({"pattern": "**/*.rs"})),
                ("TaskList", json!({})),
            ],
        ),
        ("kimi_tools.sse", vec![("Bash", json!({"command": "ls"}))]),
    ] {
        let got = claude_blocks(name);
        let calls: Vec<(String, Value)> = tools(&got).into_iter().map(|(_, n, i)| (n, i)).collect();
        let want: Vec<(String, Value)> = want.into_iter().map(|(n, i)| (n.to_owned(), i)).collect();
        assert_eq!(calls, want, "{name} (R1, R18)");
        assert_eq!(
            got.stop_reason.as_deref(),
            Some("tool_use"),
            "{name}: even after `stop` (R4)"
        );
    }
}

#[test]
fn kimi_ids_are_valid_unique_per_turn_and_map_back() {
    let bytes = fixture("chat/kimi_tools.sse");
    let ctx = context(Format::Anthropic, Format::Chat, false);
    let turn = |nonce: &str| {
        let mut translator = Translator::with_seed(&ctx, nonce, 0).unwrap();
        let mut out = translator.start().to_vec();
        out.extend_from_slice(&translator.feed(&bytes));
        out.extend_from_slice(&translator.finish());
        tools(&claude(&out))[0].0.clone()
    };
    let (first, second) = (turn("AAAAAAAA"), turn("BBBBBBBB"));
    assert_ne!(first, second, "R7: unique across turns");
    // The request fixture replays exactly these ids: they come back as Kimi's own.
    let body = fixture("requests/claude_code_two_turns.json");
    assert!(String::from_utf8_lossy(&body).contains(&first) && String::from_utf8_lossy(&body).contains(&second));
    let sent = translate_request(
        Format::Anthropic,
        Format::Chat,
        &body,
        "kimi-k2",
        &RequestDefaults::default(),
    )
    .unwrap();
    let sent: Value = serde_json::from_slice(&sent.body).unwrap();
    let ids: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| {
            m["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["id"].as_str())
                .chain(m["tool_call_id"].as_str())
        })
        .collect();
    assert_eq!(
        ids,
        [
            "functions.Bash:0",
            "functions.Bash:0",
            "functions.Bash:0",
            "functions.Read:1",
            "functions.Bash:0",
            "functions.Read:1"
        ]
    );
}

#[test]
fn a_failed_chat_stream_ends_claude_code_with_an_error_event() {
    for name in ["inband_error.sse", "eof_midstream.sse"] {
        let got = claude_blocks(name);
        let error = got.error.unwrap_or_else(|| panic!("{name}: R8"));
        assert_eq!(error["type"], "api_error", "{name}");
        assert_eq!(got.stop_reason, None, "{name}: no message_delta");
    }
}

#[test]
fn pings_keep_a_silent_stream_alive_and_message_start_stays_first() {
    let ctx = context(Format::Anthropic, Format::Chat, false);
    let mut translator = Translator::with_seed(&ctx, "N0nce123", 0).unwrap();
    let mut out = translator.keepalive().unwrap().to_vec();
    out.extend_from_slice(&translator.keepalive().unwrap());
    out.extend_from_slice(&translator.feed(&fixture("chat/openai_text.sse")));
    out.extend_from_slice(&translator.finish());
    assert!(translator.keepalive().is_none(), "nothing after the end");
    let got = claude(&out);
    assert_eq!(got.pings, 2);
    assert_eq!(translator.usage().input, 1200);

    let mut translator = Translator::with_seed(&ctx, "N0nce123", 0).unwrap();
    let mut out = translator.start().to_vec();
    out.extend_from_slice(&translator.fail(StreamError::new(ErrorKind::Timeout, "upstream timed out")));
    assert_eq!(claude(&out).error.unwrap()["type"], "timeout_error");
}

const ANTHROPIC_FIXTURES: [&str; 4] = [
    "thinking_tools.sse",
    "redacted_text.sse",
    "error_event.sse",
    "eof_midstream.sse",
];

fn chat_client(bytes: &[u8]) -> validate::Chat {
    validate::chat(bytes).unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(bytes)))
}

#[test]
fn anthropic_streams_reach_chat_clients_validly_at_every_split() {
    for include_usage in [true, false] {
        let ctx = context(Format::Chat, Format::Anthropic, include_usage);
        for name in ANTHROPIC_FIXTURES {
            let path = format!("anthropic/{name}");
            let bytes = if include_usage {
                translate_split(&ctx, &path)
            } else {
                translate(&ctx, &[&fixture(&path)])
            };
            let got = chat_client(&bytes);
            assert_eq!(got.usage.is_some(), include_usage && got.error.is_none(), "{name}");
            if include_usage {
                golden(&format!("anthropic_to_chat/{name}"), &bytes);
            }
        }
    }
}

#[test]
fn an_anthropic_answer_with_thinking_and_tools_reads_right_in_chat() {
    let ctx = context(Format::Chat, Format::Anthropic, true);
    let mut translator = Translator::with_seed(&ctx, "n", 0).unwrap();
    let mut out = translator.feed(&fixture("anthropic/thinking_tools.sse")).to_vec();
    out.extend_from_slice(&translator.finish());
    let got = chat_client(&out);
    assert_eq!(got.reasoning, "The user wants the file. I'll read it.");
    assert_eq!(got.text, "Reading the file now — ✓.");
    let calls: Vec<(&str, &str, &str)> = got
        .calls
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            (
                "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "Read",
                "{\"file_path\": \"/home/u/proj/secret.txt\"}"
            ),
            ("toolu_01AbCdEfGhIjKlMnOpQrStUv", "TaskList", "{}"),
        ]
    );
    assert_eq!(got.finish.as_deref(), Some("tool_calls"));
    let usage = got.usage.unwrap();
    assert_eq!(
        usage["prompt_tokens"],
        12 + 10000 + 2000,
        "input + cache read + cache creation"
    );
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 10000);
    assert_eq!(usage["prompt_tokens_details"]["cache_write_tokens"], 2000);
    assert_eq!(usage["completion_tokens"], 88);
    assert_eq!(translator.usage().cache_write, 2000, "usage recorded for spend");

    let ctx = context(Format::Chat, Format::Anthropic, false);
    let got = chat_client(&translate(&ctx, &[&fixture("anthropic/error_event.sse")]));
    assert_eq!(got.text, "Partial");
    assert_eq!(got.error.unwrap()["type"], "server_error", "overloaded, no [DONE] (R8)");
}

#[test]
fn whole_answers_agree_with_their_streams() {
    let ctx = context(Format::Anthropic, Format::Chat, false);
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "kimi-k2",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "Looking.", "reasoning_content": "Think.",
            "tool_calls": [{"id": "functions.Read:0", "type": "function",
                            "function": {"name": "Read", "arguments": "{\"file_path\":\"/a\"}"}},
                           {"id": "functions.Bad:1", "type": "function",
                            "function": {"name": "Bad", "arguments": "{not json"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 4}}
    });
    let answer = translate_answer_seeded(&ctx, body.to_string().as_bytes(), "AAAAAAAA").unwrap();
    assert_eq!(answer.status, 200);
    let got: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(got["model"], "claude-opus-4-8");
    assert_eq!(got["stop_reason"], "tool_use", "R4 holds for whole answers too");
    assert_eq!(
        got["content"][0],
        json!({"type": "thinking", "thinking": "Think.", "signature": ""})
    );
    assert_eq!(got["content"][1], json!({"type": "text", "text": "Looking."}));
    assert_eq!(got["content"][2]["id"], "toolu_tgAAAAAAAA_functions_2eRead_3a0");
    assert_eq!(got["content"][2]["input"], json!({"file_path": "/a"}));
    assert_eq!(
        got["content"][3]["input"],
        json!({}),
        "arguments that do not parse become {{}}"
    );
    assert_eq!(
        got["usage"],
        json!({"input_tokens": 6, "cache_creation_input_tokens": 0,
                                    "cache_read_input_tokens": 4, "output_tokens": 5})
    );

    // The same answer's stream, for every Anthropic fixture's whole body.
    let ctx = context(Format::Chat, Format::Anthropic, true);
    let whole = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
        "content": [{"type": "thinking", "thinking": "Hm.", "signature": "sig"},
                    {"type": "text", "text": "Hi"},
                    {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/a"}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 3, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 7, "output_tokens": 9}});
    let answer = translate_answer_seeded(&ctx, whole.to_string().as_bytes(), "n").unwrap();
    let got: Value = serde_json::from_slice(&answer.body).unwrap();
    let message = &got["choices"][0]["message"];
    assert_eq!(message["content"], "Hi");
    assert_eq!(message["reasoning_content"], "Hm.");
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        "{\"file_path\":\"/a\"}"
    );
    assert_eq!(got["usage"]["prompt_tokens"], 15);
    assert_eq!(got["model"], "claude-opus-4-8");

    let error = translate_answer_seeded(
        &ctx,
        br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        "n",
    )
    .unwrap();
    assert_eq!(error.status, 429);
    assert_eq!(
        serde_json::from_slice::<Value>(&error.body).unwrap()["error"]["message"],
        "slow down"
    );
}

fn claude_code_to_chat() -> (Value, tollgate::protocol::Translated) {
    let body = fixture("requests/claude_code_two_turns.json");
    let translated = translate_request(
        Format::Anthropic,
        Format::Chat,
        &body,
        "kimi-k2",
        &RequestDefaults::default(),
    )
    .unwrap();
    (serde_json::from_slice(&translated.body).unwrap(), translated)
}

#[test]
fn a_claude_code_request_becomes_a_chat_request_strict_servers_take() {
    let (body, translated) = claude_code_to_chat();
    golden(
        "requests/claude_code_two_turns.chat.json",
        serde_json::to_string_pretty(&body).unwrap().as_bytes(),
    );
    let m = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = m.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        [
            "system",
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "tool",
            "user"
        ]
    );
    assert_eq!(body["model"], "kimi-k2");
    let system = m[0]["content"].as_str().unwrap();
    assert!(system.starts_with("x-anthropic-billing-header") && system.contains("You are an interactive agent"));
    let text = body.to_string();
    assert!(
        !text.contains("cache_control") && !text.contains("ttl"),
        "R12: no cache_control, never ttl"
    );
    assert!(!text.contains("context_management") && !text.contains("metadata"));
    assert!(m[1]["content"].as_str().unwrap().contains(chat::SYSTEM_MARKER), "R5");
    assert!(m[1]["content"]
        .as_str()
        .unwrap()
        .ends_with("- claude: Catch-all for any task."));
    assert_eq!(m[2]["reasoning_content"], "I should list the files first.", "R6");
    assert_eq!(m[2]["content"], "Listing.");
    assert_eq!(m[4]["content"], Value::Null);
    assert_eq!(
        m[4]["tool_calls"].as_array().unwrap().len(),
        2,
        "one assistant turn holds all calls"
    );
    assert_eq!(
        m[5]["content"],
        format!("{}cat: secret.txt: Permission denied", chat::ERROR_PREFIX)
    );
    assert_eq!(m[6]["content"], "Image read.", "R15: one result, one tool message");
    assert_eq!(
        m[7]["content"][0]["type"], "image_url",
        "R14: the image follows the tool messages"
    );
    assert_eq!(m[7]["content"][1]["text"], "What do they say?");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(body["tools"].as_array().unwrap().len(), 3, "the server tool is dropped");
    assert!(translated.notes[0].contains("web_search_20250305"));
    assert_eq!(body["reasoning_effort"], "high");
    assert_eq!(body["max_tokens"], 32000);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert!(body["user"].as_str().unwrap().contains("session_id"));
    let ctx = &translated.context;
    assert_eq!(
        (ctx.client, ctx.upstream, ctx.model.as_str()),
        (Format::Anthropic, Format::Chat, "claude-opus-4-8")
    );
    assert!(
        ctx.input_estimate > 1600 && ctx.input_estimate < 4000,
        "{}",
        ctx.input_estimate
    );
}

#[test]
fn mcp_tool_names_over_64_characters_go_short_and_come_back_whole() {
    let (body, translated) = claude_code_to_chat();
    let long = "mcp__github-enterprise__list_pull_request_review_comments_for_repository";
    let short = body["tools"][2]["function"]["name"].as_str().unwrap();
    assert!(short.len() <= 64, "R19");
    assert_eq!(translated.context.tool_names, vec![(short.to_owned(), long.to_owned())]);
    let stream = format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{{\"name\":\"{short}\",\"arguments\":\"{{}}\"}}}}]}}}}]}}\n\n\
         data: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"tool_calls\"}}]}}\n\ndata: [DONE]\n\n"
    );
    let got = claude(&translate(&translated.context, &[stream.as_bytes()]));
    assert_eq!(tools(&got)[0].1, long);
}

#[test]
fn a_chat_request_becomes_an_anthropic_body_from_an_allowlist() {
    let body = json!({
        "model": "claude", "stream": true, "temperature": 0.2, "stop": ["END", "  "], "user": "u-1",
        "parallel_tool_calls": false, "n": 1, "logit_bias": {}, "seed": 3,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "read a and b"}, {"type": "text", "text": " "}]},
            {"role": "assistant", "content": "", "reasoning_content": "unsigned, from another provider",
             "tool_calls": [
                {"id": "functions.Read:0", "type": "function", "function": {"name": "Read", "arguments": "{\"p\":\"a\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "Read", "arguments": "not json"}}]},
            {"role": "tool", "tool_call_id": "functions.Read:0", "content": "A"},
            {"role": "tool", "tool_call_id": "call_2", "content": "B"},
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": "and? "}
        ],
        "tools": [{"type": "function", "function": {"name": "Read", "parameters": {"type": "object"}}}]
    });
    let translated = translate_request(
        Format::Chat,
        Format::Anthropic,
        body.to_string().as_bytes(),
        "claude-sonnet-4-5",
        &RequestDefaults {
            max_tokens: 8192,
            max_tokens_cap: None,
        },
    )
    .unwrap();
    let sent: Value = serde_json::from_slice(&translated.body).unwrap();
    golden(
        "requests/chat_tools.anthropic.json",
        serde_json::to_string_pretty(&sent).unwrap().as_bytes(),
    );
    let keys: Vec<&String> = sent.as_object().unwrap().keys().collect();
    for key in &keys {
        assert!(
            [
                "model",
                "max_tokens",
                "system",
                "messages",
                "tools",
                "tool_choice",
                "stop_sequences",
                "temperature",
                "metadata",
                "stream"
            ]
            .contains(&key.as_str()),
            "{key} is not on the allowlist"
        );
    }
    assert_eq!(sent["max_tokens"], 8192, "filled for a client that sent none");
    assert_eq!(
        sent["system"],
        json!([{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Answer in French."}])
    );
    assert_eq!(sent["stop_sequences"], json!(["END"]));
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert_eq!(sent["metadata"], json!({"user_id": "u-1"}));
    let m = sent["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(
        m[1]["content"].as_array().unwrap().len(),
        2,
        "no thinking without a real signature (R6)"
    );
    assert_eq!(m[1]["content"][0]["id"], "tg_functions_2eRead_3a0");
    assert_eq!(m[1]["content"][1]["input"], json!({}));
    let results = m[2]["content"].as_array().unwrap();
    assert_eq!(
        results[0],
        json!({"type": "tool_result", "tool_use_id": "tg_functions_2eRead_3a0", "content": "A"})
    );
    assert_eq!(results[1]["tool_use_id"], "call_2");
    assert_eq!(
        results[2],
        json!({"type": "text", "text": "and? "}),
        "R15: the results and the next user text are one turn"
    );
    assert!(!translated.context.include_usage);
}

#[test]
fn thinking_is_replayed_to_anthropic_only_with_its_own_signature() {
    let turn = |signature: &str| {
        json!({"model": "m", "max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 2048},
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hm", "signature": signature},
                    {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}]}]})
    };
    let send = |body: Value| {
        let t = translate_request(
            Format::Anthropic,
            Format::Anthropic,
            body.to_string().as_bytes(),
            "m",
            &RequestDefaults::default(),
        )
        .unwrap();
        serde_json::from_slice::<Value>(&t.body).unwrap()
    };
    let real = send(turn("EqQBCgIYAhIM"));
    assert_eq!(real["messages"][1]["content"][0]["type"], "thinking");
    assert_eq!(real["thinking"], json!({"type": "enabled", "budget_tokens": 2048}));
    for fake in ["", &format!("{}abc", anthropic::GATEWAY_SIGNATURE_PREFIX)] {
        let sent = send(turn(fake));
        assert_eq!(
            sent["messages"][1]["content"][0]["type"], "tool_use",
            "{fake:?} is dropped (R6)"
        );
        assert_eq!(
            sent.get("thinking"),
            None,
            "thinking is off for a tool loop without signed thinking"
        );
    }
}

#[test]
fn at_most_four_cache_breakpoints_reach_anthropic_the_last_ones() {
    let block = |t: &str| json!({"type": "text", "text": t, "cache_control": {"type": "ephemeral", "ttl": "1h"}});
    let body = json!({"model": "m", "max_tokens": 10,
        "system": [block("s1"), block("s2"), block("s3")],
        "messages": [{"role": "user", "content": [block("u1"), block("u2")]}],
        "tools": [{"name": "T", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}]});
    let t = translate_request(
        Format::Anthropic,
        Format::Anthropic,
        body.to_string().as_bytes(),
        "m",
        &RequestDefaults::default(),
    )
    .unwrap();
    let text = String::from_utf8(t.body.to_vec()).unwrap();
    assert_eq!(text.matches("cache_control").count(), 4, "R12");
    let sent: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(sent["tools"][0].get("cache_control"), None);
    assert_eq!(sent["system"][0].get("cache_control"), None);
    assert_eq!(
        sent["messages"][0]["content"][1]["cache_control"],
        json!({"type": "ephemeral", "ttl": "1h"})
    );
}

#[test]
fn bad_messages_requests_are_refused_naming_the_field() {
    let refuse = |body: Value| {
        translate_request(
            Format::Anthropic,
            Format::Chat,
            body.to_string().as_bytes(),
            "m",
            &RequestDefaults::default(),
        )
        .unwrap_err()
    };
    let user =
        |content: Value| json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": content}]});
    let cases = [
        (json!({"model": "m", "messages": []}), "max_tokens"),
        (user(json!(42)), "messages.0.content"),
        (user(json!([{"type": "hologram"}])), "messages.0.content.0.type"),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "ctx", "content": "x"}]}),
            "messages.0.role",
        ),
        (
            user(json!([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "video"}]}])),
            "messages.0.content.0.content.0.type",
        ),
    ];
    for (body, field) in cases {
        let error = refuse(body);
        assert_eq!(error.field(), Some(field));
        assert_eq!(error.status(), 400);
        let shaped: Value = serde_json::from_slice(&error.body(Format::Anthropic)).unwrap();
        assert_eq!(shaped["type"], "error");
        assert_eq!(shaped["error"]["type"], "invalid_request_error");
        assert!(
            shaped["error"]["message"].as_str().unwrap().starts_with(field),
            "{shaped}"
        );
    }
    assert!(matches!(refuse(json!("x")), ProtocolError::Invalid { .. }));
    let not_json =
        translate_request(Format::Anthropic, Format::Chat, b"{", "m", &RequestDefaults::default()).unwrap_err();
    assert!(matches!(not_json, ProtocolError::Json { .. }));
}

#[test]
fn error_bodies_speak_each_format() {
    let body: Value =
        serde_json::from_slice(&error_body(Format::Anthropic, 404, ErrorKind::NotFound, "no model `x`")).unwrap();
    assert_eq!(
        body,
        json!({"type": "error", "error": {"type": "not_found_error", "message": "no model `x`"}})
    );
    let body: Value =
        serde_json::from_slice(&error_body(Format::Anthropic, 413, ErrorKind::InvalidRequest, "big")).unwrap();
    assert_eq!(body["error"]["type"], "request_too_large");

    let openai = br#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
    let body: Value = serde_json::from_slice(&translate_error(Format::Anthropic, 400, openai)).unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"].as_str().unwrap().contains("128000"));

    let anthropic = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let body: Value = serde_json::from_slice(&translate_error(Format::Chat, 529, anthropic)).unwrap();
    assert_eq!(body["error"]["message"], "Overloaded");
    assert_eq!(body["error"]["code"], "overloaded");
    let body: Value = serde_json::from_slice(&translate_error(
        Format::Chat,
        429,
        br#"{"error":{"message":"slow","type":"requests","code":"rate_limit_exceeded"}}"#,
    ))
    .unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "R25: codes survive");
    let body: Value =
        serde_json::from_slice(&translate_error(Format::Anthropic, 502, b"<html>Bad Gateway</html>")).unwrap();
    assert_eq!(body["error"]["type"], "api_error");
    assert_eq!(body["error"]["message"], "<html>Bad Gateway</html>");
}

#[test]
fn whitespace_never_opens_a_block_but_is_kept_before_the_text_it_precedes() {
    use tollgate::protocol::events::Event;
    let mut encoder = anthropic::Encoder::new("m", "n", 1);
    let mut out = Vec::new();
    for event in [
        Event::Text { text: "\n".into() },
        Event::Text { text: "a".into() },
        Event::Reasoning { text: "r".into() },
        Event::Text { text: " ".into() },
        Event::Reasoning { text: "s".into() },
        Event::Text { text: " ".into() },
        Event::Text { text: "b".into() },
        Event::Text { text: "\n\n".into() },
        Event::Done,
    ] {
        encoder.event(event, &mut out);
    }
    let got = claude(&out);
    assert_eq!(
        got.blocks,
        vec![
            Block::Text("\na".into()),
            Block::Thinking {
                text: "rs".into(),
                signature: String::new()
            },
            Block::Text("  b\n\n".into()),
        ],
        "R24: no blank block, yet the text's spaces survive the thinking between (found by the property test)"
    );
}
