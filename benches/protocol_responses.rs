//! criterion benches for the Responses encoder: the CPU one upstream chunk
//! costs once decoded to hub events (a text delta, a tool-argument
//! fragment), and a whole 200-chunk answer from `response.created` to
//! `response.completed`. The target is under 2 µs per chunk.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use tollgate::protocol::events::{Event, FinishReason, Usage};
use tollgate::protocol::responses::Encoder;
use tollgate::protocol::{Context, Format};

fn context() -> Context {
    Context {
        client: Format::Responses,
        upstream: Format::Chat,
        model: "gw-full".to_owned(),
        include_usage: true,
        tool_names: Vec::new(),
        custom_tools: vec!["apply_patch".to_owned()],
        input_estimate: 0,
    }
}

/// An encoder past `response.created`, with an item of each kind open.
fn started(first: &Event) -> (Encoder, Vec<u8>) {
    let mut encoder = Encoder::new(context(), "resp_bench".to_owned(), 1_700_000_000);
    let mut out = Vec::with_capacity(4096);
    encoder.event(&Event::Start { id: None }, &mut out);
    encoder.event(first, &mut out);
    out.clear();
    (encoder, out)
}

fn per_chunk(c: &mut Criterion) {
    let mut group = c.benchmark_group("responses_encode");
    group.throughput(Throughput::Elements(1));
    let text = Event::Text {
        text: "Sure, here is the refactored \"parse\" function:\n".to_owned(),
    };
    let (mut encoder, mut out) = started(&text);
    group.bench_function("text_delta", |b| {
        b.iter(|| {
            encoder.event(black_box(&text), &mut out);
            out.clear();
        })
    });
    let reasoning = Event::Reasoning {
        text: "The user wants the tests to pass; first ".to_owned(),
    };
    let (mut encoder, mut out) = started(&reasoning);
    group.bench_function("reasoning_delta", |b| {
        b.iter(|| {
            encoder.event(black_box(&reasoning), &mut out);
            out.clear();
        })
    });
    let call = Event::ToolStart {
        index: 0,
        id: "call_1".to_owned(),
        name: "exec_command".to_owned(),
    };
    let fragment = Event::ToolArgs {
        index: 0,
        fragment: "{\"cmd\": \"cargo test --".to_owned(),
    };
    let (mut encoder, mut out) = started(&call);
    group.bench_function("tool_args_delta", |b| {
        b.iter(|| {
            encoder.event(black_box(&fragment), &mut out);
            out.clear();
        })
    });
    group.finish();
}

fn whole_answer(c: &mut Criterion) {
    let mut events = vec![Event::Start {
        id: Some("chatcmpl-1".to_owned()),
    }];
    for i in 0..100 {
        events.push(Event::Reasoning {
            text: format!("step {i} of the plan, "),
        });
    }
    for i in 0..100 {
        events.push(Event::Text {
            text: format!("word{i} "),
        });
    }
    events.push(Event::Finish {
        reason: FinishReason::Stop,
    });
    events.push(Event::Usage(Usage {
        input: 1200,
        cache_read: 800,
        cache_write: 0,
        output: 300,
        reasoning: 120,
    }));
    let mut group = c.benchmark_group("responses_encode");
    group.throughput(Throughput::Elements(200));
    group.bench_function("answer_200_chunks", |b| {
        b.iter(|| {
            let mut encoder = Encoder::new(context(), "resp_bench".to_owned(), 1_700_000_000);
            let mut out = Vec::with_capacity(64 * 1024);
            for event in &events {
                encoder.event(event, &mut out);
            }
            encoder.end(&mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, per_chunk, whole_answer);
criterion_main!(benches);
