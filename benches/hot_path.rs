//! criterion benches for the request path's pure parts: finding and
//! rewriting `model` in small and large bodies (against a full JSON parse,
//! what a gateway that builds a tree pays), and picking a deployment.
//!
//! `route/*` is `Config::resolve` plus `router::pick` for each strategy over
//! groups of 1 and 50 deployments; `usage/*` is `stream::UsageScan` over a
//! relayed SSE stream and a JSON answer.

use std::hint::black_box;
use std::path::Path;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use tollgate::config::routing::Strategy;
use tollgate::config::{load_str, Config};
use tollgate::providers::Endpoint;
use tollgate::request::{peek, upstream_body};
use tollgate::router::pick;
use tollgate::stream::UsageScan;

/// A chat request as SDKs send it: messages first, then `model`, then tools.
fn chat_body(messages: usize, tools: usize) -> Bytes {
    let mut body = String::from(r#"{"messages":["#);
    for i in 0..messages {
        if i > 0 {
            body.push(',');
        }
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        body.push_str(&format!(
            r#"{{"role":"{role}","content":"Message {i}: please refactor the function below so that it handles \"quoted\" input,\nunicode like caf\u00e9 and tabs\tproperly. fn parse(input: &str) -> Result<Vec<Token>, Error> {{ todo!() }} Thanks!"}}"#
        ));
    }
    body.push_str(r#"],"model":"kimi-code","temperature":0.2,"max_tokens":1024"#);
    if tools > 0 {
        body.push_str(r#","tools":["#);
        for i in 0..tools {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&format!(
                r#"{{"type":"function","function":{{"name":"tool_{i}","description":"Reads a file from the workspace and returns its contents with line numbers.","parameters":{{"type":"object","properties":{{"path":{{"type":"string","description":"Path relative to the workspace root"}},"start":{{"type":"integer","minimum":1}},"end":{{"type":"integer"}}}},"required":["path"]}}}}}}"#
            ));
        }
        body.push(']');
    }
    body.push('}');
    Bytes::from(body)
}

fn bodies() -> Vec<(&'static str, Bytes)> {
    let small = chat_body(2, 0);
    let large = chat_body(370, 40);
    assert!(small.len() < 1024, "small body is {} bytes", small.len());
    assert!(
        (90_000..130_000).contains(&large.len()),
        "large body is {} bytes",
        large.len()
    );
    vec![("small", small), ("large_100k", large)]
}

fn request_body(c: &mut Criterion) {
    let mut group = c.benchmark_group("body");
    for (name, body) in bodies() {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("peek", name), &body, |b, body| {
            b.iter(|| peek(black_box(body)).expect("a valid body"))
        });
        // The rename alone: the Responses API never has usage requested.
        let peeked = peek(&body).expect("a valid body");
        group.bench_with_input(BenchmarkId::new("rewrite_model", name), &body, |b, body| {
            b.iter(|| upstream_body(black_box(body), &peeked, Endpoint::Responses, "\"kimi-for-coding\""))
        });
        group.bench_with_input(BenchmarkId::new("rewrite_model_same_name", name), &body, |b, body| {
            b.iter(|| upstream_body(black_box(body), &peeked, Endpoint::Responses, "\"kimi-code\""))
        });
        group.bench_with_input(BenchmarkId::new("peek_and_upstream_body", name), &body, |b, body| {
            b.iter(|| {
                let p = peek(black_box(body)).expect("a valid body");
                upstream_body(body, &p, Endpoint::ChatCompletions, "\"kimi-for-coding\"")
            })
        });
        // What building a tree and writing it back costs, for comparison.
        group.bench_with_input(BenchmarkId::new("serde_value_roundtrip", name), &body, |b, body| {
            b.iter(|| {
                let mut v: serde_json::Value = serde_json::from_slice(black_box(body)).expect("valid JSON");
                v["model"] = serde_json::Value::String("kimi-for-coding".into());
                serde_json::to_vec(&v).expect("serialisable")
            })
        });
    }
    group.finish();
}

/// A config with `n` deployments of one model group, weighted or not.
fn config(n: usize, weighted: bool) -> Config {
    let mut text = String::from("model_list:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  - model_name: kimi-code\n    litellm_params:\n      model: openai/kimi-for-coding\n      api_base: http://127.0.0.1:{}/v1\n      api_key: sk-{i}\n",
            9000 + i
        ));
        if weighted {
            text.push_str(&format!("      weight: {}\n", 1 + i % 5));
        }
    }
    load_str(&text, Path::new("."), &|_| None)
        .expect("a valid config")
        .config
}

fn route(c: &mut Criterion) {
    let mut group = c.benchmark_group("route");
    let strategies = [
        ("simple_shuffle", Strategy::SimpleShuffle, false),
        ("simple_shuffle_weighted", Strategy::SimpleShuffle, true),
        ("least_busy", Strategy::LeastBusy, false),
        ("latency_based", Strategy::LatencyBased, false),
    ];
    for n in [1, 50] {
        for (name, strategy, weighted) in strategies {
            let config = config(n, weighted);
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    let resolved = config.resolve(black_box("kimi-code")).expect("the group exists");
                    pick(resolved.deployments, strategy, &[]).expect("a deployment is available")
                })
            });
        }
    }
    group.finish();
}

/// A streamed answer as providers send it: `n` content chunks, one per
/// frame, then the usage-only chunk and `[DONE]` in one frame.
fn sse_frames(n: usize) -> Vec<Bytes> {
    let mut frames: Vec<Bytes> = (0..n)
        .map(|i| {
            Bytes::from(format!(
                "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"kimi-for-coding\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} \"}},\"finish_reason\":null}}]}}\n\n"
            ))
        })
        .collect();
    frames.push(Bytes::from_static(
        b"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"kimi-for-coding\",\"choices\":[],\"usage\":{\"prompt_tokens\":1200,\"completion_tokens\":200,\"total_tokens\":1400,\"prompt_tokens_details\":{\"cached_tokens\":1024}}}\n\ndata: [DONE]\n\n",
    ));
    frames
}

const COMPLETION: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"kimi-for-coding","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":9,"total_tokens":33}}"#;

fn usage(c: &mut Criterion) {
    let mut group = c.benchmark_group("usage");
    let frames = sse_frames(200);
    let bytes: usize = frames.iter().map(Bytes::len).sum();
    group.throughput(Throughput::Bytes(bytes as u64));
    for (name, drop) in [("sse_200_chunks_keep", false), ("sse_200_chunks_drop", true)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut scan = UsageScan::new(drop);
                for frame in &frames {
                    black_box(scan.on_chunk(frame.clone()));
                }
                black_box(scan.finish());
                scan.usage().expect("usage was read")
            })
        });
    }
    group.throughput(Throughput::Bytes(COMPLETION.len() as u64));
    group.bench_function("json_completion", |b| {
        let body = Bytes::from_static(COMPLETION);
        b.iter(|| {
            let mut scan = UsageScan::json();
            black_box(scan.on_chunk(body.clone()));
            black_box(scan.finish());
            scan.usage().expect("usage was read")
        })
    });
    // A long answer (about 20 KB of text): its usage read from the end, as
    // the scan does, against the whole body parsed.
    let text = "All work and no play makes a long answer. \\n".repeat(450);
    let long = format!(
        r#"{{"id":"chatcmpl-2","object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant","content":"{text}"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":24,"completion_tokens":4000,"total_tokens":4024}},"system_fingerprint":"fp_1"}}"#
    );
    group.throughput(Throughput::Bytes(long.len() as u64));
    group.bench_function("json_20k_from_the_end", |b| {
        b.iter(|| tollgate::spend::parse_answer_usage(black_box(long.as_bytes())).expect("usage"))
    });
    group.bench_function("json_20k_whole", |b| {
        b.iter(|| tollgate::spend::parse_usage(black_box(long.as_bytes())).expect("usage"))
    });
    group.finish();
}

criterion_group!(benches, request_body, route, usage);
criterion_main!(benches);
