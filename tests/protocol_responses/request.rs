//! Responses requests → the hub (Codex's own body), and the hub → a
//! Responses body, against golden files.

use serde_json::{json, Value};
use tollgate::protocol::hub::{ImageSource, Part, Reasoning, Role, ToolChoice, ToolKind};
use tollgate::protocol::responses::{from_responses, to_responses, IngressError};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/protocol_responses");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Compares `value` with the golden file `name`; `UPDATE_GOLDEN=1` rewrites
/// it (then read the diff before committing).
pub fn golden(name: &str, value: &Value) {
    let path = format!("{FIXTURES}/{name}");
    let pretty = serde_json::to_string_pretty(value).expect("serialisable") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &pretty).expect("golden written");
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e} (UPDATE_GOLDEN=1 writes it)"));
    assert_eq!(pretty, want, "{name} differs from its golden file");
}

fn text_of(part: &Part) -> &str {
    match part {
        Part::Text { text, .. } => text,
        Part::Image { .. } => panic!("a text part"),
    }
}

#[test]
fn codex_body_becomes_the_hub_request() {
    let ingress = from_responses(&fixture("codex_request.json")).expect("Codex's body translates");
    let r = &ingress.request;
    assert_eq!(r.model, "gw-full");
    assert!(r.stream);
    let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
    use Role::*;
    assert_eq!(
        roles,
        [System, System, User, User, Assistant, Tool, Tool, User, Assistant, Tool, Assistant, Tool, User]
    );
    // Developer messages are system turns, never `developer`.
    assert_eq!(
        text_of(&r.messages[0].parts[0]),
        "You are a coding agent running in the Codex CLI."
    );
    assert_eq!(r.messages[1].parts.len(), 2);
    // The assistant's text, the reasoning before it and both calls are one turn.
    let turn = &r.messages[4];
    assert_eq!(text_of(&turn.parts[0]), "Running it.");
    assert_eq!(
        turn.reasoning,
        [Reasoning::Text {
            text: "I should run the command.".into(),
            signature: None
        }]
    );
    let ids: Vec<&str> = turn.tool_calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["call_1173", "call_1174"]);
    assert_eq!(turn.tool_calls[0].arguments, "{\"cmd\": \"echo hello-codex-55\"}");
    assert_eq!(r.messages[5].tool_call_id.as_deref(), Some("call_1173"));
    // view_image's output: its text stays in the tool message, its image
    // follows the tool messages in a user message.
    assert_eq!(text_of(&r.messages[6].parts[0]), "the screenshot");
    assert_eq!(r.messages[6].parts.len(), 1);
    match &r.messages[7].parts[..] {
        [Part::Image {
            source: ImageSource::Base64 { media_type, data },
            ..
        }] => {
            assert_eq!((media_type.as_str(), data.as_str()), ("image/png", "iVBORw0KGgo="));
        }
        other => panic!("one image part, got {other:?}"),
    }
    // The custom call keeps its raw input; the encrypted-only reasoning is gone.
    let patch = &r.messages[8].tool_calls[0];
    assert_eq!((patch.kind, patch.name.as_str()), (ToolKind::Custom, "apply_patch"));
    assert!(patch.arguments.starts_with("*** Begin Patch"));
    assert!(r.messages[8].reasoning.is_empty());
    assert_eq!(r.messages[10].tool_calls[0].name, "multi_agent_v1__close_agent");
    assert_eq!(
        ingress.dropped_items,
        ["local_shell_call", "ghost_snapshot", "compaction"]
    );
}

#[test]
fn codex_tools_are_flattened_and_built_ins_dropped() {
    let ingress = from_responses(&fixture("codex_request.json")).expect("translates");
    let r = &ingress.request;
    let names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "exec_command",
            "multi_agent_v1__close_agent",
            "multi_agent_v1__spawn_agent",
            "apply_patch",
            "view_image"
        ]
    );
    assert_eq!(
        ingress.tool_names[0],
        (
            "multi_agent_v1__close_agent".into(),
            "multi_agent_v1.close_agent".into()
        )
    );
    assert_eq!(ingress.custom_tools, ["apply_patch"]);
    let patch = &r.tools[3];
    assert_eq!(patch.kind, ToolKind::Custom);
    assert_eq!(patch.parameters["properties"]["input"]["type"], "string");
    assert!(
        patch
            .description
            .as_deref()
            .unwrap_or_default()
            .contains("begin_patch hunk+"),
        "the grammar is kept"
    );
    assert_eq!(ingress.dropped_tools, ["web_search"]);
    assert_eq!(r.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(r.parallel_tool_calls, Some(true));
    assert_eq!(r.reasoning.as_ref().and_then(|c| c.effort.as_deref()), Some("medium"));
    assert_eq!(ingress.prompt_cache_key.as_deref(), Some("01a22f38-thread"));
    assert!(!ingress.store_ignored);
}

#[test]
fn codex_body_round_trips_to_a_responses_body() {
    let ingress = from_responses(&fixture("codex_request.json")).expect("translates");
    golden("codex_request.responses.json", &to_responses(&ingress.request));
}

#[test]
fn options_map_to_the_hub() {
    let body = json!({
        "model": "m", "instructions": "Be brief.", "input": "hi", "max_output_tokens": 300,
        "temperature": 0.2, "top_p": 0.9, "user": "u1", "store": true,
        "reasoning": {"effort": "none"},
        "tool_choice": {"type": "function", "name": "exec_command"},
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true}}
    });
    let ingress = from_responses(body.to_string().as_bytes()).expect("translates");
    let r = &ingress.request;
    assert_eq!(
        (r.messages[0].role, text_of(&r.messages[0].parts[0])),
        (Role::System, "Be brief.")
    );
    assert_eq!(
        (r.messages[1].role, text_of(&r.messages[1].parts[0])),
        (Role::User, "hi")
    );
    assert_eq!(r.max_tokens, Some(300));
    assert_eq!((r.temperature, r.top_p), (Some(0.2), Some(0.9)));
    assert_eq!(r.user.as_deref(), Some("u1"));
    assert!(r.reasoning.is_none(), "effort none is no reasoning setting");
    assert_eq!(r.tool_choice, Some(ToolChoice::Tool("exec_command".into())));
    let schema = r.json_schema.as_ref().expect("a schema");
    assert_eq!((schema.name.as_str(), schema.strict), ("out", Some(true)));
    assert!(ingress.store_ignored, "store: true is reported");
    golden("options.responses.json", &to_responses(r));
}

#[test]
fn stateful_requests_are_refused_with_the_field_named() {
    let body = json!({"model": "m", "input": "hi", "previous_response_id": "resp_1"});
    let err = from_responses(body.to_string().as_bytes()).expect_err("refused");
    assert_eq!(
        err,
        IngressError::Stateful {
            field: "previous_response_id"
        }
    );
    assert!(err.to_string().contains("stateless"));
    let body = json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]});
    let err = from_responses(body.to_string().as_bytes()).expect_err("refused");
    assert_eq!(
        err,
        IngressError::Stateful {
            field: "item_reference"
        }
    );
}

#[test]
fn bad_input_names_the_field() {
    let cases = [
        (json!({"input": 3}), "input"),
        (
            json!({"input": [{"type": "message", "role": "tool", "content": "x"}]}),
            "input[0].role",
        ),
        (
            json!({"input": [{"type": "message", "role": "user", "content": [{"type": "video"}]}]}),
            "input[0].content[0].type",
        ),
        (
            json!({"input": [{"type": "message", "role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
            "input[0].content[0]",
        ),
        (
            json!({"input": [{"type": "function_call", "name": "x", "arguments": "{}"}]}),
            "input[0].call_id",
        ),
        (
            json!({"input": [{"type": "function_call_output", "call_id": "c", "output": 5}]}),
            "input[0].output",
        ),
        (json!({"input": "x", "tools": [{"type": "function"}]}), "tools[0].name"),
    ];
    for (body, field) in cases {
        match from_responses(body.to_string().as_bytes()) {
            Err(IngressError::Invalid { field: got, .. }) => assert_eq!(got, field, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
    }
    assert!(matches!(from_responses(b"not json"), Err(IngressError::Invalid { .. })));
}

#[test]
fn easy_messages_and_refusals_are_read() {
    let body = json!({"input": [
        {"role": "user", "content": "plain"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png", "detail": "low"}]}
    ]});
    let r = from_responses(body.to_string().as_bytes()).expect("translates").request;
    assert_eq!(text_of(&r.messages[0].parts[0]), "plain");
    assert_eq!(text_of(&r.messages[1].parts[0]), "no");
    assert!(
        matches!(&r.messages[2].parts[0], Part::Image { source: ImageSource::Url(u), .. } if u == "https://x/y.png")
    );
}
