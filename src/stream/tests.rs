//! Tests of `stream`.

use super::*;

const ID: &str =
    r#""id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","system_fingerprint":"fp""#;

fn content(delta: &str, finish: &str) -> String {
    format!(
        r#"data: {{{ID},"choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}],"usage":null}}"#
    ) + "\n\n"
}

fn usage_event() -> String {
    format!(
        r#"data: {{{ID},"choices":[],"usage":{{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,"prompt_tokens_details":{{"cached_tokens":1024,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":128,"audio_tokens":0}}}}}}"#
    ) + "\n\n"
}

const USAGE: Usage = Usage {
    input: 1200,
    output: 300,
    cached_input: 1024,
    cache_write: 0,
    reasoning: 128,
};

/// A chat stream as OpenAI sends it with `include_usage`: the content
/// (with multi-byte text, and text that looks like a usage key), the
/// usage-only chunk, then `[DONE]`. Returns it and it without the usage chunk.
fn openai_stream() -> (String, String) {
    let before = [
        content(r#"{"role":"assistant","content":""}"#, "null"),
        content(r#"{"content":"Héllo 👋"}"#, "null"),
        content(r#"{"content":" \"usage\": {\"choices\":[]} "}"#, "null"),
        content("{}", r#""stop""#),
    ]
    .concat();
    let done = "data: [DONE]\n\n";
    (format!("{before}{}{done}", usage_event()), format!("{before}{done}"))
}

/// Feeds `pieces` through a scanner; returns what went out, per call
/// (the last entry is `finish`), and the scanner.
fn relay(drop: bool, pieces: &[&[u8]]) -> (Vec<Bytes>, UsageScan) {
    let mut scan = UsageScan::new(drop);
    let mut out: Vec<Bytes> = pieces
        .iter()
        .map(|p| scan.on_chunk(Bytes::copy_from_slice(p)))
        .collect();
    out.push(scan.finish());
    (out, scan)
}

fn joined(out: &[Bytes]) -> String {
    String::from_utf8(out.concat()).unwrap()
}

/// Checks every way to cut `stream` in two, and in one-byte pieces.
fn every_split(stream: &str, drop: bool, want: &str, usage: Option<Usage>) {
    let bytes = stream.as_bytes();
    for i in 0..=bytes.len() {
        let (out, scan) = relay(drop, &[&bytes[..i], &bytes[i..]]);
        assert_eq!(joined(&out), want, "split at {i}");
        assert_eq!(scan.usage(), usage, "split at {i}");
        assert!(!scan.overflowed());
    }
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    let (out, scan) = relay(drop, &bytewise);
    assert_eq!((joined(&out), scan.usage()), (want.to_owned(), usage));
    // Three pieces, a coarse grid of both cuts.
    for i in (0..bytes.len()).step_by(13) {
        for j in (i..bytes.len()).step_by(29) {
            let (out, _) = relay(drop, &[&bytes[..i], &bytes[i..j], &bytes[j..]]);
            assert_eq!(joined(&out), want, "split at {i} and {j}");
        }
    }
}

#[test]
fn the_injected_usage_chunk_is_cut_out_at_any_split() {
    let (stream, without) = openai_stream();
    every_split(&stream, true, &without, Some(USAGE));
    let (_, scan) = relay(true, &[stream.as_bytes()]);
    assert!(scan.dropped());
}

#[test]
fn a_stream_the_client_asked_usage_for_passes_whole() {
    let (stream, _) = openai_stream();
    every_split(&stream, false, &stream, Some(USAGE));
    let (_, scan) = relay(false, &[stream.as_bytes()]);
    assert!(!scan.dropped());
}

#[test]
fn crlf_and_lone_cr_line_ends() {
    let (stream, without) = openai_stream();
    for end in ["\r\n", "\r"] {
        let (stream, without) = (stream.replace('\n', end), without.replace('\n', end));
        every_split(&stream, true, &without, Some(USAGE));
        every_split(&stream, false, &stream, Some(USAGE));
    }
    // Mixed: the empty line may end differently from the data line.
    let mixed = usage_event().replace("\n\n", "\r\n\n");
    let stream = format!("{mixed}data: [DONE]\n\n");
    every_split(&stream, true, "data: [DONE]\n\n", Some(USAGE));
}

#[test]
fn content_goes_out_in_the_call_it_arrives_in() {
    let event = Bytes::from(content(r#"{"content":"hi"}"#, "null"));
    for drop in [true, false] {
        let mut scan = UsageScan::new(drop);
        let out = scan.on_chunk(event.clone());
        // The very same bytes: not copied, not re-allocated.
        assert_eq!((out.as_ptr(), out.len()), (event.as_ptr(), event.len()));
        let two = Bytes::from([&event[..], &event[..]].concat());
        let out = scan.on_chunk(two.clone());
        assert_eq!((out.as_ptr(), out.len()), (two.as_ptr(), two.len()));
    }
    // Dropping on, an event cut before its `choices` is held until they
    // show it is content; the complete events before it go out at once.
    let mut scan = UsageScan::new(true);
    let cut = event.len() + 40;
    let two = [&event[..], &event[..]].concat();
    assert_eq!(scan.on_chunk(Bytes::copy_from_slice(&two[..cut])), event);
    let choices = two.windows(12).position(|w| w == b"\"choices\":[{").unwrap();
    let next = event.len() + choices + 12;
    let out = scan.on_chunk(Bytes::copy_from_slice(&two[cut..next]));
    assert_eq!(out, &two[event.len()..next]);
    let out = scan.on_chunk(Bytes::copy_from_slice(&two[next..]));
    assert_eq!(out, &two[next..], "the rest of a released event is not held");
    // Dropping off, nothing is ever held.
    let mut scan = UsageScan::new(false);
    assert_eq!(scan.on_chunk(Bytes::copy_from_slice(&two[..cut])), &two[..cut]);
}

#[test]
fn a_cut_usage_chunk_is_held_then_dropped() {
    let usage = usage_event();
    let mut scan = UsageScan::new(true);
    let first = format!("{}{}", content("{}", r#""stop""#), &usage[..100]);
    let out = scan.on_chunk(Bytes::from(first));
    assert_eq!(out, content("{}", r#""stop""#));
    let rest = format!("{}data: [DONE]\n\n", &usage[100..]);
    assert_eq!(scan.on_chunk(Bytes::from(rest)), "data: [DONE]\n\n");
    assert_eq!((scan.finish(), scan.usage()), (Bytes::new(), Some(USAGE)));
}

#[test]
fn usage_in_a_content_chunk_is_read_and_kept() {
    // Some providers put usage on the last content chunk.
    let event = content("{}", r#""stop""#).replace(
        r#""usage":null"#,
        r#""usage":{"prompt_tokens":5,"completion_tokens":6}"#,
    );
    let (out, scan) = relay(true, &[event.as_bytes()]);
    assert_eq!(joined(&out), event);
    assert_eq!(scan.usage().map(|u| (u.input, u.output)), Some((5, 6)));
    assert!(!scan.dropped());
}

#[test]
fn comments_multi_line_data_and_a_missing_last_empty_line() {
    let stream = concat!(
        ": ping\n\n",
        "data: {\"choices\":[],\n",
        "data: \"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
        ": ping\n\n",
        "data: [DONE]\n\n",
    );
    let usage = Some(Usage {
        input: 3,
        output: 4,
        ..Usage::default()
    });
    every_split(stream, true, ": ping\n\n: ping\n\ndata: [DONE]\n\n", usage);
    every_split(stream, false, stream, usage);
    // A body that ends mid-event still has its usage read; the held
    // bytes go out at the end unless they are the chunk to drop.
    let last = usage_event();
    let last = last.trim_end();
    every_split(last, true, "", Some(USAGE));
    every_split(last, false, last, Some(USAGE));
    let (content, _) = openai_stream();
    let content = &content[..200];
    every_split(content, true, content, None);
}

#[test]
fn responses_api_usage_is_read_from_response_completed() {
    let stream = concat!(
        "event: response.created\n",
        "data: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"status\":\"in_progress\",\"usage\":null}}\n\n",
        "event: response.output_text.delta\n",
        "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n",
        "event: response.completed\n",
        "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"status\":\"completed\",\"output\":[],",
        "\"usage\":{\"input_tokens\":50,\"input_tokens_details\":{\"cached_tokens\":20},",
        "\"output_tokens\":70,\"output_tokens_details\":{\"reasoning_tokens\":40},\"total_tokens\":120}}}\n\n",
    );
    let usage = Usage {
        input: 50,
        output: 70,
        cached_input: 20,
        cache_write: 0,
        reasoning: 40,
    };
    every_split(stream, false, stream, Some(usage));
}

#[test]
fn anthropic_usage_joins_message_start_and_message_delta() {
    // Input and cache counts come first, the output count at the end.
    let stream = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",",
        "\"content\":[],\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":30,",
        "\"cache_creation_input_tokens\":8,\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":25}}\n\n",
        "event: message_stop\n",
        "data: {\"type\":\"message_stop\"}\n\n",
    );
    let usage = Usage {
        input: 50,
        output: 25,
        cached_input: 30,
        cache_write: 8,
        reasoning: 0,
    };
    every_split(stream, false, stream, Some(usage));
}

#[test]
fn json_bodies_are_read_at_the_end() {
    let body = r#"{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1200,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":128}}}"#;
    let bytes = body.as_bytes();
    for i in 0..=bytes.len() {
        let mut scan = UsageScan::json();
        let first = Bytes::copy_from_slice(&bytes[..i]);
        let out = scan.on_chunk(first.clone());
        assert_eq!(out.as_ptr(), first.as_ptr(), "sent on at once, as is");
        assert_eq!(scan.on_chunk(Bytes::copy_from_slice(&bytes[i..])), &bytes[i..]);
        assert_eq!(scan.usage(), None, "known at the end");
        assert!(scan.finish().is_empty());
        assert_eq!(scan.usage(), Some(USAGE));
    }
    // In one chunk (kept by reference), and in three.
    let mut scan = UsageScan::json();
    scan.on_chunk(Bytes::from_static(bytes));
    scan.finish();
    assert_eq!(scan.usage(), Some(USAGE));
    let mut scan = UsageScan::json();
    for part in bytes.chunks(bytes.len() / 3 + 1) {
        scan.on_chunk(Bytes::copy_from_slice(part));
    }
    scan.finish();
    assert_eq!(scan.usage(), Some(USAGE));
    let mut scan = UsageScan::json();
    let big = Bytes::from(vec![b' '; MAX_JSON + 1]);
    assert_eq!(scan.on_chunk(big.clone()), big);
    assert_eq!(
        scan.on_chunk(Bytes::from_static(br#"{"usage":{"prompt_tokens":1}}"#))
            .len(),
        29
    );
    scan.finish();
    assert_eq!((scan.usage(), scan.overflowed()), (None, true));
}

#[test]
fn an_event_over_the_cap_is_released_and_scanning_stops() {
    let mut scan = UsageScan::new(true);
    let start = format!("data: {{{ID},\"x\":\"");
    assert!(
        scan.on_chunk(Bytes::from(start.clone())).is_empty(),
        "held: may be the usage chunk"
    );
    let filler = Bytes::from(vec![b'a'; MAX_EVENT]);
    let out = scan.on_chunk(filler.clone());
    assert_eq!(out.len(), start.len() + MAX_EVENT, "everything held goes out");
    assert!(scan.overflowed());
    let usage = Bytes::from(usage_event());
    assert_eq!(scan.on_chunk(usage.clone()), usage, "no longer scanned");
    assert_eq!((scan.finish(), scan.usage()), (Bytes::new(), None));
}

#[test]
fn the_scan_follows_the_response_headers() {
    let headers = |pairs: &[(&str, &str)]| {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    };
    let sse = UsageScan::for_response(&headers(&[("content-type", "text/event-stream; charset=utf-8")]), true);
    assert!(sse.may_drop());
    let json = UsageScan::for_response(&headers(&[("content-type", "application/json")]), true);
    assert!(!json.may_drop());
    let mut gzip = UsageScan::for_response(
        &headers(&[("content-type", "application/json"), ("content-encoding", "gzip")]),
        true,
    );
    gzip.on_chunk(Bytes::from_static(br#"{"usage":{"prompt_tokens":1}}"#));
    gzip.finish();
    assert_eq!(gzip.usage(), None);
}

/// Every frame a body sends, data or trailers.
async fn frames_of<B: Body<Data = Bytes>>(body: B) -> Vec<Frame<Bytes>>
where
    B::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt;
    let mut body = std::pin::pin!(body);
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        frames.push(frame.unwrap());
    }
    frames
}

fn data_of(frames: &[Frame<Bytes>]) -> String {
    let data: Vec<&Bytes> = frames.iter().filter_map(Frame::data_ref).collect();
    assert!(data.iter().all(|d| !d.is_empty()), "no empty frames");
    String::from_utf8(data.into_iter().flat_map(|d| d.to_vec()).collect()).unwrap()
}

#[tokio::test]
async fn a_scanned_body_relays_frames_and_keeps_the_usage() {
    let (stream, without) = openai_stream();
    let usage_at = stream.find("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"system_fingerprint\":\"fp\",\"choices\":[]").unwrap();
    let cut = usage_at + 50;
    let pieces = vec![
        Bytes::from(stream[..cut].to_owned()),
        Bytes::from(stream[cut..].to_owned()),
    ];
    let body = Scanned::new(crate::body::frames(pieces.clone()), Some(UsageScan::new(true)));
    assert_eq!(body.size_hint().exact(), None);
    let mut body = std::pin::pin!(body);
    let frames = frames_of(body.as_mut()).await;
    assert_eq!(data_of(&frames), without);
    assert_eq!(body.usage(), Some(USAGE));
    assert!(body.is_end_stream());
    // Without a scan: relayed as is, frame for frame.
    let body = Scanned::new(crate::body::frames(pieces.clone()), None);
    let frames = frames_of(body).await;
    assert_eq!(frames.len(), 2);
    assert_eq!(data_of(&frames), stream);
}

#[tokio::test]
async fn a_sized_json_body_has_its_usage_with_its_last_frame() {
    use http_body_util::BodyExt;
    let json = Bytes::from_static(br#"{"usage":{"prompt_tokens":7,"completion_tokens":8}}"#);
    let body = Scanned::new(http_body_util::Full::new(json.clone()), Some(UsageScan::json()));
    assert_eq!(body.size_hint().exact(), Some(json.len() as u64));
    let mut body = std::pin::pin!(body);
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), json);
    assert!(body.is_end_stream(), "ended with its last frame");
    assert_eq!(body.usage().map(|u| (u.input, u.output)), Some((7, 8)));
}

#[tokio::test]
async fn held_bytes_go_out_before_the_end_and_before_trailers() {
    let usage = usage_event();
    let last = usage.trim_end().replace("\"choices\":[]", "\"choices\":[ ]");
    let mut trailers = HeaderMap::new();
    trailers.insert("x-t", "1".parse().unwrap());
    // An unfinished event that is not the usage chunk, then trailers.
    let content = "data: {\"choices\"";
    let frames: Vec<Result<Frame<Bytes>, BoxError>> = vec![
        Ok(Frame::data(Bytes::from_static(content.as_bytes()))),
        Ok(Frame::trailers(trailers.clone())),
    ];
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
    let out = frames_of(Scanned::new(body, Some(UsageScan::new(true)))).await;
    assert_eq!(data_of(&out), content);
    assert_eq!(out.last().and_then(Frame::trailers_ref), Some(&trailers));
    // The usage chunk without its final empty line is still dropped.
    let body = crate::body::frames(vec![Bytes::from(last.clone())]);
    let mut body = std::pin::pin!(Scanned::new(body, Some(UsageScan::new(true))));
    assert!(frames_of(body.as_mut()).await.is_empty());
    assert_eq!(body.usage(), Some(USAGE));
}

#[test]
fn word_at_a_time_search_matches_a_plain_one() {
    // Every placement of the key and of line ends over word boundaries,
    // among bytes that look like them (`"`, `u`, and 0x0b/0x0c/0x8a/0x8d).
    let noise = b"\"uxy\x0b\x0c\x8a\x8d\"usag";
    let mut seed = 7u32;
    for len in 0..40 {
        for _ in 0..200 {
            let mut hay: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    noise[(seed >> 16) as usize % noise.len()]
                })
                .collect();
            let at = (seed >> 8) as usize % (len + 1);
            let insert: &[u8] = match seed % 3 {
                0 => b"\"usage\"",
                1 => b"\n",
                _ => b"\r",
            };
            hay.splice(at..at, insert.iter().copied());
            let plain = (0..hay.len()).find(|&i| hay[i..].starts_with(b"\"usage\""));
            assert_eq!(find(&hay, b"\"usage\""), plain, "{hay:?}");
            let plain = hay.iter().position(|&b| b == b'\n' || b == b'\r');
            assert_eq!(find_line_end(&hay), plain, "{hay:?}");
        }
    }
}
