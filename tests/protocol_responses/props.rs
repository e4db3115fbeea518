//! Properties: any sequence of hub events encodes to a valid Responses
//! stream, with every text and every call's arguments intact.

use proptest::prelude::*;
use tollgate::protocol::events::{ErrorKind, Event, FinishReason, StreamError, Usage};
use tollgate::protocol::responses::items::unwrap_input;

use crate::validator::validate;
use crate::{context, encode};

const NAMES: [&str; 3] = ["exec_command", "apply_patch", "multi_agent_v1__close_agent"];

fn event() -> impl Strategy<Value = Event> {
    let text = "[a-z {}\":é\\n]{0,6}";
    prop_oneof![
        1 => Just(Event::Start { id: None }),
        3 => text.prop_map(|text| Event::Reasoning { text }),
        4 => text.prop_map(|text| Event::Text { text }),
        2 => (0..3usize, 0..3usize).prop_map(|(index, n)| Event::ToolStart {
            index,
            id: format!("call_{index}"),
            name: NAMES[n].to_owned(),
        }),
        5 => (0..3usize, text).prop_map(|(index, fragment)| Event::ToolArgs { index, fragment }),
        1 => prop_oneof![
            Just(FinishReason::Stop),
            Just(FinishReason::ToolCalls),
            Just(FinishReason::Length),
            Just(FinishReason::ContentFilter),
        ]
        .prop_map(|reason| Event::Finish { reason }),
        1 => (0..1000u64, 0..1000u64).prop_map(|(input, output)| Event::Usage(Usage {
            input,
            cache_read: input / 2,
            cache_write: 0,
            output,
            reasoning: output / 3,
        })),
        1 => Just(Event::Error(StreamError { kind: ErrorKind::RateLimit, message: "slow down".into() })),
    ]
}

/// What the events say a finished stream must carry: all text, and each
/// call's arguments from its start on, in order of start.
fn expected(events: &[Event]) -> (String, Vec<(String, String)>) {
    let mut text = String::new();
    let mut calls: Vec<(usize, String, String)> = Vec::new();
    for event in events {
        match event {
            Event::Text { text: t } => text.push_str(t),
            Event::ToolStart { index, name, .. } if !calls.iter().any(|c| c.0 == *index) => {
                calls.push((*index, name.clone(), String::new()));
            }
            Event::ToolArgs { index, fragment } => {
                if let Some(call) = calls.iter_mut().find(|c| c.0 == *index) {
                    call.2.push_str(fragment);
                }
            }
            Event::Error(_) => break,
            _ => {}
        }
    }
    let calls = calls
        .into_iter()
        .map(|(_, name, args)| match name.as_str() {
            "apply_patch" => ("custom_tool_call".to_owned(), unwrap_input(&args)),
            _ if args.trim().is_empty() => ("function_call".to_owned(), args + "{}"),
            _ => ("function_call".to_owned(), args),
        })
        .collect();
    (text, calls)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_event_sequence_gives_a_valid_stream(events in prop::collection::vec(event(), 0..40)) {
        let ctx = context(&[("multi_agent_v1__close_agent", "multi_agent_v1.close_agent")], &["apply_patch"]);
        let out = validate(&encode(ctx, &events));
        let errored = events.iter().any(|e| matches!(e, Event::Error(_)));
        let last_finish = events.iter().rev().find_map(|e| match e {
            Event::Finish { reason } => Some(*reason),
            _ => None,
        });
        let failed = errored || matches!(last_finish, None | Some(FinishReason::ContentFilter));
        prop_assert_eq!(out.terminal == "response.failed", failed);
        if !failed {
            let want = if last_finish == Some(FinishReason::Length) { "response.incomplete" } else { "response.completed" };
            prop_assert_eq!(out.terminal.as_str(), want);
        }
        if out.terminal != "response.failed" {
            let (text, calls) = expected(&events);
            let got_text: String = out.items.iter().filter(|i| i["type"] == "message")
                .map(|i| i["content"][0]["text"].as_str().unwrap_or_default()).collect();
            prop_assert_eq!(got_text, text);
            let got_calls: Vec<(String, String)> = out.items.iter()
                .filter(|i| i["type"] == "function_call" || i["type"] == "custom_tool_call")
                .map(|i| {
                    let args = if i["type"] == "custom_tool_call" { &i["input"] } else { &i["arguments"] };
                    (i["type"].as_str().unwrap_or_default().to_owned(), args.as_str().unwrap_or_default().to_owned())
                })
                .collect();
            prop_assert_eq!(got_calls, calls);
        }
    }
}
