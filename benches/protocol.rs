//! criterion benches for protocol translation: each stream decoder and
//! encoder alone, and whole translations chat → Anthropic and back, per
//! upstream chunk (criterion's "elements" are chunks, so its time per
//! element is the CPU cost per chunk; the target is under 2 µs).
//!
//! The stream is a typical reasoning model's answer with a tool call: 40
//! reasoning chunks, 200 text chunks and a call in 20 argument fragments,
//! each chunk as its own network read, as providers flush them.
//!
//! Measured at 91ee3e6 on the shared 2-core machine (load average 4–6, so
//! upper bounds), per chunk: decode/chat 0.77 µs, encode/anthropic 0.08 µs,
//! translate/chat_to_anthropic 1.04 µs, decode/anthropic 0.50 µs,
//! encode/chat 0.06 µs, translate/anthropic_to_chat 0.78 µs; a Claude
//! Code–shaped request (24 tools) to chat: 213 µs.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use tollgate::protocol::events::Event;
use tollgate::protocol::{anthropic, chat, translate_request, Context, Format, RequestDefaults, Translator};

const HEAD: &str = r#""id":"chatcmpl-B9x","object":"chat.completion.chunk","created":1764547200,"model":"kimi-k2-thinking","system_fingerprint":"fp_5c1a""#;

/// A chat stream, one SSE event per chunk.
fn chat_stream() -> Vec<Vec<u8>> {
    let chunk = |delta: &str, finish: &str| {
        format!(
            r#"data: {{{HEAD},"choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}]}}"#
        )
        .into_bytes()
        .into_iter()
        .chain(*b"\n\n")
        .collect::<Vec<u8>>()
    };
    let mut chunks = vec![chunk(r#"{"role":"assistant","content":""}"#, "null")];
    for i in 0..40 {
        chunks.push(chunk(
            &format!(r#"{{"reasoning_content":"step {i} of the plan, "}}"#),
            "null",
        ));
    }
    for i in 0..200 {
        chunks.push(chunk(&format!(r#"{{"content":"word{i} caf\u00e9 "}}"#), "null"));
    }
    chunks.push(chunk(
        r#"{"tool_calls":[{"index":0,"id":"functions.Bash:0","type":"function","function":{"name":"Bash","arguments":""}}]}"#,
        "null",
    ));
    for i in 0..20 {
        let fragment = if i == 0 {
            r#"{\"command\":\""#.to_owned()
        } else if i == 19 {
            r#"\"}"#.to_owned()
        } else {
            format!("ls -la dir{i} ")
        };
        chunks.push(chunk(
            &format!(r#"{{"tool_calls":[{{"index":0,"function":{{"arguments":"{fragment}"}}}}]}}"#),
            "null",
        ));
    }
    chunks.push(chunk("{}", r#""tool_calls""#));
    chunks.push(
        format!(r#"data: {{{HEAD},"choices":[],"usage":{{"prompt_tokens":2000,"completion_tokens":400,"total_tokens":2400,"prompt_tokens_details":{{"cached_tokens":1536}}}}}}"#)
            .into_bytes()
            .into_iter()
            .chain(*b"\n\ndata: [DONE]\n\n")
            .collect(),
    );
    chunks
}

fn context(client: Format, upstream: Format) -> Context {
    Context {
        client,
        upstream,
        model: "claude-opus-4-8".into(),
        include_usage: true,
        tool_names: Vec::new(),
        custom_tools: Vec::new(),
        input_estimate: 2000,
    }
}

/// A stream translated whole, chunk by chunk; returns the client's chunks.
fn translate(ctx: &Context, chunks: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut translator = Translator::with_seed(ctx, "B3nchm4rk", 0).unwrap();
    let mut out = vec![translator.start().to_vec()];
    for chunk in chunks {
        out.push(translator.feed(chunk).to_vec());
    }
    out.push(translator.finish().to_vec());
    out
}

fn chat_events(chunks: &[Vec<u8>]) -> Vec<Event> {
    let mut decoder = chat::Decoder::new();
    let mut events = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk, &mut events);
    }
    decoder.finish(&mut events);
    events
}

fn streams(c: &mut Criterion) {
    let chat_chunks = chat_stream();
    let anthropic_chunks: Vec<Vec<u8>> = translate(&context(Format::Anthropic, Format::Chat), &chat_chunks)
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect();
    let events = chat_events(&chat_chunks);
    let mut group = c.benchmark_group("protocol");
    group.throughput(Throughput::Elements(chat_chunks.len() as u64));
    group.bench_function("decode/chat", |b| {
        b.iter(|| black_box(chat_events(black_box(&chat_chunks))))
    });
    group.bench_function("encode/anthropic", |b| {
        b.iter(|| {
            let mut encoder = anthropic::Encoder::new("claude-opus-4-8", "B3nchm4rk", 2000);
            let mut out = Vec::with_capacity(256);
            for event in black_box(&events) {
                encoder.event(event.clone(), &mut out);
                out.clear();
            }
            black_box(out)
        })
    });
    group.bench_function("encode/chat", |b| {
        b.iter(|| {
            let mut encoder = chat::Encoder::new("gpt", "B3nchm4rk", 0, true);
            let mut out = Vec::with_capacity(256);
            for event in black_box(&events) {
                encoder.event(event.clone(), &mut out);
                out.clear();
            }
            black_box(out)
        })
    });
    let ctx = context(Format::Anthropic, Format::Chat);
    group.bench_function("translate/chat_to_anthropic", |b| {
        b.iter(|| black_box(translate(&ctx, black_box(&chat_chunks))))
    });

    group.throughput(Throughput::Elements(anthropic_chunks.len() as u64));
    group.bench_function("decode/anthropic", |b| {
        b.iter(|| {
            let mut decoder = anthropic::Decoder::new();
            let mut events = Vec::new();
            for chunk in black_box(&anthropic_chunks) {
                decoder.feed(chunk, &mut events);
                events.clear();
            }
            decoder.finish(&mut events);
            black_box(events)
        })
    });
    let ctx = context(Format::Chat, Format::Anthropic);
    group.bench_function("translate/anthropic_to_chat", |b| {
        b.iter(|| black_box(translate(&ctx, black_box(&anthropic_chunks))))
    });
    group.finish();
}

/// A Claude Code–shaped request (24 tools, a few turns) translated for a
/// chat upstream, per request.
fn requests(c: &mut Criterion) {
    let tool = |i: usize| {
        format!(
            r#"{{"name":"Tool{i}","description":"Does thing {i} to the workspace, carefully.","input_schema":{{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{{"path":{{"type":"string","description":"Where."}},"limit":{{"type":"integer","maximum":9007199254740991}}}},"required":["path"],"additionalProperties":false}}}}"#
        )
    };
    let tools: Vec<String> = (0..24).map(tool).collect();
    let body = format!(
        r#"{{"model":"claude-opus-4-8","max_tokens":32000,"stream":true,"thinking":{{"type":"adaptive"}},"output_config":{{"effort":"high"}},
        "system":[{{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.197"}},{{"type":"text","text":"You are a Claude agent.","cache_control":{{"type":"ephemeral","ttl":"1h"}}}}],
        "messages":[{{"role":"user","content":[{{"type":"text","text":"List the files and read the README, please."}}]}},
        {{"role":"system","content":"Available agent types: claude."}},
        {{"role":"assistant","content":[{{"type":"thinking","thinking":"I will list.","signature":""}},{{"type":"tool_use","id":"toolu_tgAAAAAAAA_functions_2eBash_3a0","name":"Bash","input":{{"command":"ls"}}}}]}},
        {{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_tgAAAAAAAA_functions_2eBash_3a0","content":"README.md\nsrc\nCargo.toml"}}]}}],
        "tools":[{}]}}"#,
        tools.join(",")
    );
    let mut group = c.benchmark_group("protocol");
    group.throughput(Throughput::Elements(1));
    group.bench_function("request/anthropic_to_chat", |b| {
        b.iter(|| {
            black_box(
                translate_request(
                    Format::Anthropic,
                    Format::Chat,
                    black_box(body.as_bytes()),
                    "kimi-k2",
                    &RequestDefaults::default(),
                )
                .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, streams, requests);
criterion_main!(benches);
