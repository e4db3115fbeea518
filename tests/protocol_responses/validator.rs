//! A strict validator of the Responses event grammar as Codex and the
//! OpenAI SDKs read it.

use serde::Deserialize;
use serde_json::Value;

/// One SSE event: its `event:` line and its parsed `data`.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub name: String,
    pub data: Value,
}

/// Splits SSE bytes into events (a test-side reader: every event the
/// encoder writes is `event:` + `data:` + a blank line).
pub fn parse_sse(bytes: &[u8]) -> Vec<SseEvent> {
    let text = std::str::from_utf8(bytes).expect("the stream is UTF-8");
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "the stream ends with a whole event"
    );
    let mut events = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.is_empty()) {
        let mut name = None;
        let mut data = None;
        for line in block.lines() {
            if let Some(n) = line.strip_prefix("event: ") {
                assert!(
                    name.replace(n.to_owned()).is_none(),
                    "one event line per event: {block}"
                );
            } else if let Some(d) = line.strip_prefix("data: ") {
                assert!(data.replace(d.to_owned()).is_none(), "one data line per event: {block}");
            } else {
                panic!("unexpected line {line:?}");
            }
        }
        let name = name.unwrap_or_else(|| panic!("an event line on every event: {block}"));
        let data = serde_json::from_str(&data.expect("a data line")).expect("data is JSON");
        events.push(SseEvent { name, data });
    }
    events
}

/// The shapes of `ResponseItem` Codex records from `output_item.done`
/// (codex-rs/protocol/src/models.rs): an item that fails these is skipped
/// by Codex and the turn silently loses it.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(dead_code)] // Fields are read by deserialising, which is the check.
pub enum CodexItem {
    Message {
        role: String,
        content: Vec<CodexContent>,
    },
    Reasoning {
        id: String,
        summary: Vec<CodexSummary>,
    },
    FunctionCall {
        name: String,
        arguments: String,
        call_id: String,
        namespace: Option<String>,
    },
    CustomToolCall {
        call_id: String,
        name: String,
        input: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CodexContent {
    OutputText { text: String },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CodexSummary {
    SummaryText { text: String },
}

/// Codex's `ResponseCompleted`: an id and integer usage.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct CodexCompleted {
    id: String,
    usage: Option<CodexUsage>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct CodexUsage {
    input_tokens: u64,
    input_tokens_details: Option<CachedDetails>,
    output_tokens: u64,
    output_tokens_details: Option<ReasoningDetails>,
    total_tokens: u64,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct CachedDetails {
    cached_tokens: u64,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct ReasoningDetails {
    reasoning_tokens: u64,
}

/// What a valid stream said.
#[derive(Debug)]
pub struct Outcome {
    /// `response.completed`, `response.incomplete` or `response.failed`.
    pub terminal: String,
    /// The response object the terminal event carried.
    pub response: Value,
    /// The items of `output_item.done`, in order.
    pub items: Vec<Value>,
}

/// The item being streamed and what its deltas said.
struct OpenItem {
    index: usize,
    id: String,
    item: Value,
    deltas: String,
    part_open: bool,
}

/// Checks the whole grammar and returns what the stream said; panics with
/// the reason on the first violation.
pub fn validate(bytes: &[u8]) -> Outcome {
    let events = parse_sse(bytes);
    assert!(events.len() >= 3, "at least created, in_progress and a terminal event");
    let mut items: Vec<Value> = Vec::new();
    let mut open: Option<OpenItem> = None;
    let mut response_id = String::new();
    let mut terminal = None;
    for (seq, event) in events.iter().enumerate() {
        let data = &event.data;
        let kind = data["type"].as_str().expect("every event has a type");
        assert_eq!(event.name, kind, "the event line equals the type");
        assert_eq!(
            data["sequence_number"].as_u64(),
            Some(seq as u64),
            "sequence numbers are dense from 0"
        );
        assert!(terminal.is_none(), "nothing after the terminal event, got {kind}");
        serde_json::from_value::<async_openai::types::responses::ResponseStreamEvent>(data.clone())
            .unwrap_or_else(|e| panic!("the OpenAI SDK reads {kind}: {e}\n{data}"));
        match (seq, kind) {
            (0, "response.created") => {
                response_id = data["response"]["id"].as_str().expect("a response id").to_owned();
                assert_eq!(data["response"]["status"], "in_progress");
            }
            (0, other) => panic!("the first event is response.created, not {other}"),
            (1, "response.in_progress") => {}
            (1, other) => panic!("the second event is response.in_progress, not {other}"),
            (_, "response.in_progress") => assert_eq!(data["response"]["id"], response_id.as_str()),
            (_, "response.output_item.added") => {
                assert!(open.is_none(), "an item is added only once the previous one is done");
                let index = data["output_index"].as_u64().expect("output_index") as usize;
                assert_eq!(index, items.len(), "output indices count the items");
                let item = data["item"].clone();
                let id = item["id"].as_str().expect("an item id").to_owned();
                assert!(!id.is_empty(), "item ids are not empty");
                open = Some(OpenItem {
                    index,
                    id,
                    item,
                    deltas: String::new(),
                    part_open: false,
                });
            }
            (_, "response.output_item.done") => {
                let o = open.take().expect("done follows added");
                let item = &data["item"];
                assert_eq!(data["output_index"].as_u64(), Some(o.index as u64));
                assert_eq!(item["id"], o.id.as_str(), "the item id is stable");
                assert_eq!(item["type"], o.item["type"], "the item keeps its type");
                assert!(!o.part_open, "parts are done before their item");
                check_complete(item, &o);
                serde_json::from_value::<CodexItem>(item.clone())
                    .unwrap_or_else(|e| panic!("Codex reads the done item: {e}\n{item}"));
                items.push(item.clone());
            }
            (_, "response.content_part.added" | "response.reasoning_summary_part.added") => {
                let o = open_for(&mut open, data);
                assert!(!o.part_open, "one part at a time");
                o.part_open = true;
            }
            (_, "response.content_part.done" | "response.reasoning_summary_part.done") => {
                let o = open_for(&mut open, data);
                assert!(o.part_open, "a part is done once, after it was added");
                assert_eq!(
                    data["part"]["text"].as_str(),
                    Some(o.deltas.as_str()),
                    "the done part is whole"
                );
                o.part_open = false;
            }
            (_, "response.output_text.delta" | "response.reasoning_summary_text.delta") => {
                let o = open_for(&mut open, data);
                assert!(o.part_open, "text deltas go into an open part");
                let want = if kind == "response.output_text.delta" {
                    "message"
                } else {
                    "reasoning"
                };
                assert_eq!(o.item["type"], want, "{kind} only in a {want} item");
                o.deltas.push_str(data["delta"].as_str().expect("a string delta"));
            }
            (_, "response.output_text.done" | "response.reasoning_summary_text.done") => {
                let o = open_for(&mut open, data);
                assert_eq!(
                    data["text"].as_str(),
                    Some(o.deltas.as_str()),
                    "the done text is the deltas"
                );
            }
            (_, "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta") => {
                let o = open_for(&mut open, data);
                let want = if kind.starts_with("response.function") {
                    "function_call"
                } else {
                    "custom_tool_call"
                };
                assert_eq!(o.item["type"], want, "{kind} only in a {want} item");
                o.deltas.push_str(data["delta"].as_str().expect("a string delta"));
            }
            (_, "response.function_call_arguments.done") => {
                let o = open_for(&mut open, data);
                assert_eq!(data["arguments"].as_str(), Some(o.deltas.as_str()));
            }
            (_, "response.custom_tool_call_input.done") => {
                let o = open_for(&mut open, data);
                assert_eq!(data["input"].as_str(), Some(o.deltas.as_str()));
            }
            (_, "response.completed" | "response.incomplete" | "response.failed") => {
                let response = &data["response"];
                assert_eq!(response["id"], response_id.as_str(), "the terminal response has the id");
                assert_eq!(response["status"], &kind["response.".len()..]);
                serde_json::from_value::<CodexCompleted>(response.clone())
                    .unwrap_or_else(|e| panic!("Codex reads the terminal response: {e}"));
                assert_eq!(response["output"].as_array(), Some(&items), "output is every done item");
                if kind == "response.failed" {
                    assert!(response["error"]["code"].is_string() && response["error"]["message"].is_string());
                } else {
                    assert!(open.is_none(), "a finished response has no open item");
                }
                if kind == "response.incomplete" {
                    assert_eq!(response["incomplete_details"]["reason"], "max_output_tokens");
                }
                if let Some(usage) = response["usage"].as_object() {
                    let n = |k: &str| usage[k].as_u64().expect("integer usage");
                    assert_eq!(n("total_tokens"), n("input_tokens") + n("output_tokens"));
                }
                terminal = Some((kind.to_owned(), response.clone()));
            }
            (_, other) => panic!("unexpected event {other}"),
        }
    }
    let (terminal, response) = terminal.expect("exactly one terminal event, and last");
    Outcome {
        terminal,
        response,
        items,
    }
}

fn open_for<'a>(open: &'a mut Option<OpenItem>, data: &Value) -> &'a mut OpenItem {
    let o = open
        .as_mut()
        .unwrap_or_else(|| panic!("{} needs an open item", data["type"]));
    assert_eq!(data["item_id"], o.id.as_str(), "{} names the open item", data["type"]);
    assert_eq!(data["output_index"].as_u64(), Some(o.index as u64));
    o
}

/// The done item carries everything its deltas said.
fn check_complete(item: &Value, o: &OpenItem) {
    match item["type"].as_str() {
        Some("message") => {
            assert_eq!(
                item["content"][0]["text"].as_str(),
                Some(o.deltas.as_str()),
                "message text whole"
            );
            assert!(!o.deltas.is_empty(), "no empty message item");
        }
        Some("reasoning") => assert_eq!(item["summary"][0]["text"].as_str(), Some(o.deltas.as_str())),
        Some("function_call") => {
            assert_eq!(
                item["arguments"].as_str(),
                Some(o.deltas.as_str()),
                "arguments are the deltas"
            );
            assert_eq!(item["call_id"], o.item["call_id"], "call ids are stable");
            assert_eq!(item["name"], o.item["name"]);
            assert!(
                !item["name"].as_str().unwrap_or_default().is_empty(),
                "calls have names"
            );
        }
        Some("custom_tool_call") => {
            assert_eq!(item["input"].as_str(), Some(o.deltas.as_str()), "input is the deltas");
            assert_eq!(item["call_id"], o.item["call_id"], "call ids are stable");
        }
        other => panic!("unexpected item type {other:?}"),
    }
}
