//! The SSE usage scan at every chunk split: a generated stream fed whole, cut
//! at each byte, cut many times at random and fed a byte at a time gives the
//! same bytes out and the same usage; with usage injection exactly the
//! usage-only chunks are cut, and without it every byte passes.

use bytes::Bytes;
use proptest::prelude::*;
use proptest::sample::select;
use tollgate::spend::Usage;
use tollgate::stream::UsageScan;

use crate::{cases, within, HANG};

/// One event of a generated stream, and what the scan should make of it.
#[derive(Debug, Clone)]
struct Event {
    text: String,
    /// `(prompt, completion)` tokens when the event carries a usage object.
    usage: Option<(u32, u32)>,
    /// The usage-only chunk (`"choices":[]`): cut when usage was injected.
    usage_only: bool,
    /// The line end it uses, the last of which ends it.
    eol: &'static str,
}

/// Text a model might stream, with what could fool a byte scan.
fn content() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,16}",
        any::<String>().prop_map(|s| s.chars().take(8).collect()),
        select(vec![
            "\"usage\":{\"prompt_tokens\":1}",
            "\"choices\":[]",
            "data: [DONE]\n\n",
            "\r\n\r\n",
            "é👋",
            "\\",
        ])
        .prop_map(str::to_owned),
    ]
    .prop_map(|s| serde_json::to_string(&s).expect("a string encodes"))
}

fn usage_object(prompt: u32, completion: u32) -> String {
    format!(
        r#"{{"prompt_tokens":{prompt},"completion_tokens":{completion},"total_tokens":{}}}"#,
        u64::from(prompt) + u64::from(completion)
    )
}

/// The JSON payload of one event and what it carries.
fn payload() -> impl Strategy<Value = (String, Option<(u32, u32)>, bool)> {
    let tokens = (0u32..100_000, 0u32..100_000);
    prop_oneof![
        // A content chunk, with `usage` null, absent, or nested where it is
        // not the chunk's own.
        4 => (content(), select(vec![",\"usage\":null", "", ",\"x\":{\"usage\":{\"prompt_tokens\":5}}"])).prop_map(
            |(c, tail)| {
                let json = format!(r#"{{"id":"c1","choices":[{{"index":0,"delta":{{"content":{c}}}}}]{tail}}}"#);
                (json, None, false)
            }
        ),
        // The usage-only chunk.
        2 => (tokens.clone(), select(vec!["", " ", "\t"])).prop_map(|((p, c), ws)| {
            let json = format!(r#"{{"id":"c1","choices":[{ws}],{ws}"usage":{ws}{}}}"#, usage_object(p, c));
            (json, Some((p, c)), true)
        }),
        // Usage riding on the last content chunk: read, never cut.
        1 => (tokens, content()).prop_map(|((p, c), text)| {
            // `usage` first: a split at the first `,` falls between tokens.
            let json = format!(r#"{{"usage":{},"choices":[{{"delta":{{"content":{text}}}}}]}}"#, usage_object(p, c));
            (json, Some((p, c)), false)
        }),
        1 => Just(("[DONE]".to_owned(), None, false)),
        1 => Just((String::new(), None, false)),
    ]
}

/// One event: optional comment and `event:`/`id:` lines, the payload on one
/// `data:` line or split over two at a `,`, then the empty line; `eol` is
/// the line end used throughout (`\n`, `\r\n`, `\r`).
fn event() -> impl Strategy<Value = Event> {
    (
        payload(),
        select(vec!["\n", "\r\n", "\r"]),
        select(vec!["", ": keep-alive", "event: message", "id: 7", "retry: 100"]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|((json, usage, usage_only), eol, extra, split, no_space)| {
            let data = if no_space { "data:" } else { "data: " };
            let mut lines: Vec<String> = Vec::new();
            if !extra.is_empty() {
                lines.push(extra.to_owned());
            }
            match json.find(',').filter(|_| split) {
                Some(at) => {
                    lines.push(format!("{data}{}", &json[..=at]));
                    lines.push(format!("{data}{}", &json[at + 1..]));
                }
                None => lines.push(format!("{data}{json}")),
            }
            let text = lines.iter().map(|l| format!("{l}{eol}")).collect::<String>() + eol;
            Event {
                text,
                usage,
                usage_only,
                eol,
            }
        })
}

/// A stream of events, sometimes with a lone comment event between them,
/// sometimes cut before its last event's empty line.
fn stream() -> impl Strategy<Value = (Vec<Event>, bool)> {
    let comment = Event {
        text: ": ping\n\n".to_owned(),
        usage: None,
        usage_only: false,
        eol: "\n",
    };
    let item = prop_oneof![8 => event(), 1 => Just(comment)];
    (proptest::collection::vec(item, 0..8), any::<bool>())
}

/// The whole stream, and with the last event's final line end cut off when `cut`.
fn render(events: &[Event], cut: bool) -> Vec<String> {
    let mut texts: Vec<String> = events.iter().map(|e| e.text.clone()).collect();
    if let (Some(text), Some(event), true) = (texts.last_mut(), events.last(), cut) {
        // The empty line that ends the event goes; its last line's end stays.
        text.truncate(text.len() - event.eol.len());
    }
    texts
}

/// Feeds `pieces` through a scan; returns the bytes out, the usage, and
/// whether a chunk was cut.
fn relay(drop: bool, pieces: &[&[u8]]) -> (Vec<u8>, Option<Usage>, bool) {
    let mut scan = UsageScan::new(drop);
    let mut out = Vec::new();
    for piece in pieces {
        out.extend_from_slice(&scan.on_chunk(Bytes::copy_from_slice(piece)));
    }
    out.extend_from_slice(&scan.finish());
    assert!(!scan.overflowed(), "a short stream never overflows");
    (out, scan.usage(), scan.dropped())
}

/// Cuts `bytes` at the given (unsorted, repeated) offsets.
fn cut_at<'a>(bytes: &'a [u8], offsets: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = offsets.iter().map(|i| i.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut pieces = Vec::new();
    let mut from = 0;
    for cut in at.into_iter().chain([bytes.len()]) {
        pieces.push(&bytes[from..cut]);
        from = cut;
    }
    pieces
}

fn check(events: &[Event], cut: bool, drop: bool, splits: &[prop::sample::Index]) -> Result<(), TestCaseError> {
    let texts = render(events, cut);
    let stream = texts.concat().into_bytes();
    let whole = relay(drop, &[&stream]);

    // What should come out: everything, less the usage-only events when
    // usage was injected; the usage is the last event's that carried one.
    let kept: String = texts
        .iter()
        .zip(events)
        .filter(|(_, e)| !(drop && e.usage_only))
        .map(|(t, _)| t.as_str())
        .collect();
    prop_assert_eq!(String::from_utf8_lossy(&whole.0), kept);
    let last = events.iter().rev().find_map(|e| e.usage);
    prop_assert_eq!(
        whole.1.map(|u| (u.input, u.output)),
        last.map(|(p, c)| (u64::from(p), u64::from(c)))
    );
    prop_assert_eq!(whole.2, drop && events.iter().any(|e| e.usage_only));

    for i in 0..=stream.len() {
        let two = relay(drop, &[&stream[..i], &stream[i..]]);
        prop_assert_eq!(&two, &whole, "cut at {}", i);
    }
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    prop_assert_eq!(&relay(drop, &bytewise), &whole, "a byte at a time");
    prop_assert_eq!(&relay(drop, &cut_at(&stream, splits)), &whole, "cut at {:?}", splits);
    Ok(())
}

/// Bytes that are mostly SSE and JSON fragments in any order: events that
/// end anywhere, line ends of every kind, usage keys with and without
/// objects, `choices` empty or not, and stray bytes.
fn soup() -> impl Strategy<Value = Bytes> {
    let fragment = prop_oneof![
        4 => select(vec![
            "data: ",
            "data:",
            "\n",
            "\r",
            "\r\n",
            "\n\n",
            "\r\r",
            ": c\n",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            " ",
            "\"choices\"",
            "\"choices\":[]",
            "\"choices\":[{}]",
            "\"usage\"",
            "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}",
            "\"usage\":null",
            "{\"choices\":[],\"usage\":{\"prompt_tokens\":3}}",
            "[DONE]",
            "\"",
            "\\\"",
            // Whole usage events, with and without their end.
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
            "data: {\"choices\":[ ],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6}}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{}}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":8}}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1}}",
        ])
        .prop_map(|f| f.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 1..4),
    ];
    // `Bytes`, so that a failing case prints as text.
    proptest::collection::vec(fragment, 0..40).prop_map(|fs| Bytes::from(fs.concat()))
}

proptest! {
    #![proptest_config(cases(160))]

    /// Whatever the bytes, the split does not change what goes out or the
    /// usage read; without injection every byte passes unchanged.
    #[test]
    fn any_bytes_give_the_same_result_at_every_split(
        bytes in soup(),
        drop in any::<bool>(),
        splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        within(HANG, move || -> Result<(), TestCaseError> {
            let whole = relay(drop, &[&bytes[..]]);
            if !drop {
                prop_assert_eq!(&whole.0[..], &bytes[..]);
            }
            for i in 0..=bytes.len() {
                prop_assert_eq!(&relay(drop, &[&bytes[..i], &bytes[i..]]), &whole, "cut at {}", i);
            }
            let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
            prop_assert_eq!(&relay(drop, &bytewise), &whole, "a byte at a time");
            prop_assert_eq!(&relay(drop, &cut_at(&bytes, &splits)), &whole, "cut at {:?}", splits);
            Ok(())
        })?;
    }

    #[test]
    fn every_split_gives_the_same_bytes_and_usage(
        (events, cut) in stream(),
        drop in any::<bool>(),
        splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        within(HANG, move || check(&events, cut, drop, &splits))?;
    }

    /// A JSON answer in any number of pieces: passed on as is, usage read at the end.
    #[test]
    fn a_json_answer_in_pieces_is_read_like_a_whole_one(
        text in content(),
        tokens in proptest::option::of((0u32..100_000, 0u32..100_000)),
        splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let usage = tokens.map_or("null".to_owned(), |(p, c)| usage_object(p, c));
        let body = format!(r#"{{"id":"x","choices":[{{"message":{{"content":{text}}}}}],"usage":{usage}}}"#).into_bytes();
        within(HANG, move || {
            let mut scan = UsageScan::json();
            let mut out = Vec::new();
            for piece in cut_at(&body, &splits) {
                out.extend_from_slice(&scan.on_chunk(Bytes::copy_from_slice(piece)));
            }
            out.extend_from_slice(&scan.finish());
            assert_eq!(out, body);
            let want = tokens.map(|(p, c)| (u64::from(p), u64::from(c)));
            assert_eq!(scan.usage().map(|u| (u.input, u.output)), want);
        });
    }
}

/// Found by `any_bytes_give_the_same_result_at_every_split`: an event whose
/// bytes hold a non-empty `"choices"` array before its usage-only data line
/// was cut when it came whole, and passed when a chunk boundary fell just
/// after that array had begun (the scan had already sent its start).
#[test]
fn an_event_with_a_non_empty_choices_is_cut_whole_or_split_alike() {
    let event = b"\"choices\":[{}]\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n";
    let whole = relay(true, &[&event[..]]);
    for i in 0..=event.len() {
        assert_eq!(relay(true, &[&event[..i], &event[i..]]), whole, "cut at {i}");
    }
}
