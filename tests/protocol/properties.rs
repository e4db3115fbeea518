//! Property tests: any answer an upstream can give, as hub events, comes
//! out of each encoder valid and whole, reads back the same through each
//! decoder, and decodes the same however its bytes are split.

use proptest::prelude::*;
use serde_json::Value;
use tollgate::protocol::answer::Answer;
use tollgate::protocol::events::{ErrorKind, Event, FinishReason, StreamError, Usage};
use tollgate::protocol::ids::upstream_tool_id;
use tollgate::protocol::{anthropic, chat};

use crate::validate::{self, Block};

/// An answer as an upstream might stream it.
#[derive(Debug, Clone)]
struct Script {
    /// Reasoning and text pieces, in order (`true` = reasoning).
    prose: Vec<(bool, String)>,
    /// Each call's name and arguments (a JSON object's text).
    calls: Vec<(String, String)>,
    /// How each call's arguments are cut, and the order the pieces of all
    /// calls interleave in: `(call, cut count)` steps.
    interleave: Vec<usize>,
    cuts: Vec<Vec<usize>>,
    finish: FinishReason,
    usage: Usage,
    fails: bool,
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z ]{1,12}",
        Just(" ".to_owned()),
        Just("\n".to_owned()),
        Just("héllo ✓ 👋".to_owned()),
        Just("\"quoted\" \\ {json}".to_owned()),
    ]
}

fn arguments() -> impl Strategy<Value = String> {
    prop::collection::btree_map(
        "[a-z_]{1,8}",
        prop_oneof![
            "[a-zA-Z0-9 /.é]{0,16}".prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            Just(Value::Null),
        ],
        0..4,
    )
    .prop_map(|map| Value::Object(map.into_iter().collect()).to_string())
}

fn script() -> impl Strategy<Value = Script> {
    let finish = prop_oneof![
        Just(FinishReason::Stop),
        Just(FinishReason::ToolCalls),
        Just(FinishReason::Length),
        Just(FinishReason::StopSequence),
    ];
    (
        prop::collection::vec((any::<bool>(), piece()), 0..6),
        prop::collection::vec(("[A-Za-z_]{1,10}", arguments()), 0..4),
        prop::collection::vec(0usize..4, 0..24),
        prop::collection::vec(prop::collection::vec(0usize..64, 0..4), 4),
        finish,
        (0u64..5000, 0u64..2000, 0u64..2000, 0u64..900),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(prose, calls, interleave, cuts, finish, (a, b, c, d), fails)| Script {
            prose,
            calls,
            interleave,
            cuts,
            finish,
            usage: Usage {
                input: a + b + c,
                cache_read: b,
                cache_write: c,
                output: d,
                reasoning: 0,
            },
            fails,
        })
}

impl Script {
    /// The events of this answer: prose, then the calls' starts and their
    /// argument pieces interleaved, then finish, usage and the end.
    fn events(&self) -> Vec<Event> {
        let mut events = vec![Event::Start {
            id: Some("up-1".into()),
        }];
        for (reasoning, text) in &self.prose {
            events.push(if *reasoning {
                Event::Reasoning { text: text.clone() }
            } else {
                Event::Text { text: text.clone() }
            });
        }
        let mut pieces: Vec<std::collections::VecDeque<String>> = Vec::new();
        for (index, (name, args)) in self.calls.iter().enumerate() {
            let mut cuts: Vec<usize> = self.cuts[index % 4]
                .iter()
                .map(|c| c % (args.len() + 1))
                .filter(|c| args.is_char_boundary(*c))
                .collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut parts = std::collections::VecDeque::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([args.len()]) {
                parts.push_back(args[start..cut].to_owned());
                start = cut;
            }
            pieces.push(parts);
            events.push(Event::ToolStart {
                index,
                id: format!("functions.{name}:{index}"),
                name: name.clone(),
            });
        }
        for step in &self.interleave {
            if pieces.is_empty() {
                break;
            }
            let index = step % pieces.len();
            if let Some(fragment) = pieces[index].pop_front() {
                events.push(Event::ToolArgs { index, fragment });
            }
        }
        for (index, rest) in pieces.iter_mut().enumerate() {
            while let Some(fragment) = rest.pop_front() {
                events.push(Event::ToolArgs { index, fragment });
            }
        }
        if self.fails {
            events.push(Event::Error(StreamError::new(ErrorKind::Overloaded, "busy")));
            return events;
        }
        events.push(Event::Finish { reason: self.finish });
        events.push(Event::Usage(self.usage));
        events.push(Event::Done);
        events
    }

    fn text(&self, reasoning: bool) -> String {
        self.prose
            .iter()
            .filter(|(r, _)| *r == reasoning)
            .map(|(_, t)| t.as_str())
            .collect()
    }
}

fn encode_anthropic(events: Vec<Event>) -> Vec<u8> {
    let mut encoder = anthropic::Encoder::new("alias", "Pr0pTest", 99);
    let mut out = Vec::new();
    encoder.start(&mut out);
    for event in events {
        encoder.event(event, &mut out);
    }
    out
}

fn encode_chat(events: Vec<Event>) -> Vec<u8> {
    let mut encoder = chat::Encoder::new("alias", "n", 1, true);
    let mut out = Vec::new();
    for event in events {
        encoder.event(event, &mut out);
    }
    out
}

/// Text without its whitespace: what survives the rule that whitespace
/// alone never opens an Anthropic text block.
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Cuts `bytes` at these points (taken modulo its length).
fn cut<'a>(bytes: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut parts = Vec::new();
    let mut start = 0;
    for point in points {
        parts.push(&bytes[start..point]);
        start = point;
    }
    parts.push(&bytes[start..]);
    parts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn any_answer_reaches_claude_code_valid_and_whole(script in script()) {
        let bytes = encode_anthropic(script.events());
        let got = validate::anthropic(&bytes).map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes))))?;
        let mut text = String::new();
        let mut thinking = String::new();
        let mut calls = Vec::new();
        for block in &got.blocks {
            match block {
                Block::Text(t) => text.push_str(t),
                Block::Thinking { text, .. } => thinking.push_str(text),
                Block::Tool { id, name, input, .. } => calls.push((upstream_tool_id(id).into_owned(), name.clone(), input.clone())),
                Block::Redacted { .. } => {}
            }
        }
        prop_assert_eq!(thinking, script.text(true));
        if script.fails {
            prop_assert!(got.error.is_some());
            return Ok(());
        }
        // Whitespace alone never makes a block; anything else arrives whole.
        prop_assert_eq!(squeeze(&text), squeeze(&script.text(false)));
        let want: Vec<(String, String, Value)> = script.calls.iter().enumerate()
            .map(|(i, (name, args))| (format!("functions.{name}:{i}"), name.clone(), serde_json::from_str(args).unwrap()))
            .collect();
        let mut calls_sorted = calls.clone();
        calls_sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut want_sorted = want.clone();
        want_sorted.sort_by(|a, b| a.0.cmp(&b.0));
        prop_assert_eq!(calls_sorted, want_sorted);
        let usage = &got.usage;
        prop_assert_eq!(usage["input_tokens"].as_u64().unwrap() + usage["cache_read_input_tokens"].as_u64().unwrap()
            + usage["cache_creation_input_tokens"].as_u64().unwrap(),
            if script.usage.input > 0 { script.usage.input } else { 99 });
    }

    #[test]
    fn any_answer_reaches_chat_clients_valid_and_whole(script in script()) {
        let bytes = encode_chat(script.events());
        let got = validate::chat(&bytes).map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(&got.text, &script.text(false));
        prop_assert_eq!(&got.reasoning, &script.text(true));
        if script.fails {
            prop_assert!(got.error.is_some());
            return Ok(());
        }
        let calls: Vec<(String, String)> = got.calls.iter().map(|c| (c.name.clone(), c.arguments.clone())).collect();
        prop_assert_eq!(calls, script.calls.clone(), "the fragments concatenate to the upstream's arguments (R1)");
    }

    #[test]
    fn the_decoders_read_back_what_the_encoders_wrote_however_it_is_split(
        script in script(),
        points in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let want = Answer::collect(script.events());

        let bytes = encode_chat(script.events());
        let mut decoder = chat::Decoder::new();
        let mut events = Vec::new();
        for part in cut(&bytes, &points) {
            decoder.feed(part, &mut events);
        }
        decoder.finish(&mut events);
        let got = Answer::collect(events);
        prop_assert_eq!(&got.text, &want.text);
        prop_assert_eq!(got.error.is_some(), want.error.is_some());
        if want.error.is_none() {
            prop_assert_eq!(got.usage, want.usage);
            let args: Vec<&str> = got.calls.iter().map(|c| c.arguments.as_str()).collect();
            let want_args: Vec<&str> = want.calls.iter().map(|c| c.arguments.as_str()).collect();
            prop_assert_eq!(args, want_args);
        }

        let bytes = encode_anthropic(script.events());
        let mut decoder = anthropic::Decoder::new();
        let mut events = Vec::new();
        for part in cut(&bytes, &points) {
            decoder.feed(part, &mut events);
        }
        decoder.finish(&mut events);
        let got = Answer::collect(events);
        prop_assert_eq!(got.reasoning.iter().map(|r| r.text.as_str()).collect::<String>(), script.text(true));
        prop_assert_eq!(got.error.is_some(), want.error.is_some());
        if want.error.is_none() {
            prop_assert_eq!(squeeze(&got.text), squeeze(&want.text));
            prop_assert_eq!(got.usage.input, if want.usage.input > 0 { want.usage.input } else { 99 });
            prop_assert_eq!(got.usage.cache_read, want.usage.cache_read);
            prop_assert_eq!(got.usage.output, want.usage.output);
            prop_assert_eq!(got.calls.len(), want.calls.len());
        }
    }
}
