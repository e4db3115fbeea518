//! The mock upstream: answers any POST at once with an OpenAI chat completion
//! (an Anthropic message on a path ending in `/messages`), or, under
//! `/sse/{chunks}/{every_ms}/…`, with an SSE stream of `chunks` content
//! events `every_ms` apart (the first at once), then the usage and the end.
//! `GET /stats` counts what it received, so it doubles as an OTLP sink (any
//! POST gets 200).

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

#[derive(clap::Args)]
pub struct MockArgs {
    /// Port on 127.0.0.1.
    #[arg(long)]
    port: u16,
}

static REQUESTS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// A typical non-streamed chat completion (about 400 bytes).
pub const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"mock-fast","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is an instant answer from the benchmark's mock upstream."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":14,"total_tokens":38},"system_fingerprint":"fp_bench"}"#;

const CHUNK: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"mock-sse\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"token \"},\"finish_reason\":null}]}\n\n";
const LAST: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"mock-sse\",\"choices\":[],\"usage\":{\"prompt_tokens\":24,\"completion_tokens\":50,\"total_tokens\":74}}\n\ndata: [DONE]\n\n";

/// The same answer as an Anthropic Messages response (about 400 bytes).
pub const MESSAGE: &str = r#"{"id":"msg_bench","type":"message","role":"assistant","model":"mock-fast","content":[{"type":"text","text":"Hello! This is an instant answer from the benchmark's mock upstream."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":24,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":14}}"#;

/// Anthropic's stream: the first frame opens the message and its text block
/// with the first delta, as Anthropic's API sends them together.
const A_FIRST: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"mock-sse\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":24,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
const A_CHUNK: &str = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"token \"}}\n\n";
const A_LAST: &str = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":50}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/// The pieces of one stream in one wire format.
struct Script {
    first: &'static str,
    chunk: &'static str,
    last: &'static str,
}

const CHAT: Script = Script {
    first: "",
    chunk: CHUNK,
    last: LAST,
};

const ANTHROPIC: Script = Script {
    first: A_FIRST,
    chunk: A_CHUNK,
    last: A_LAST,
};

type Body = UnsyncBoxBody<Bytes, Infallible>;

pub fn main(args: MockArgs) -> i32 {
    // Multi-threaded as a real upstream would be; under `taskset` it gets
    // as many workers as CPUs it may use.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    let Ok(runtime) = runtime else {
        eprintln!("mock: cannot start the runtime");
        return 1;
    };
    runtime.block_on(async move {
        let listener = match bind(args.port).await {
            Ok(l) => l,
            Err(error) => {
                eprintln!("mock: cannot listen on {}: {error}", args.port);
                return 1;
            }
        };
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .await;
            });
        }
    })
}

async fn bind(port: u16) -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(([127, 0, 0, 1], port).into())?;
    socket.listen(4096)
}

async fn handle(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    let post = request.method() == http::Method::POST;
    if path == "/stats" {
        let stats = format!(
            r#"{{"requests":{},"bytes":{}}}"#,
            REQUESTS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed)
        );
        return Ok(json(Bytes::from(stats)));
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    // Readiness polls are GETs: only POSTs (requests, OTLP exports) count.
    if post {
        REQUESTS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(body.len() as u64, Ordering::Relaxed);
    }
    let anthropic = path.ends_with("/messages");
    Ok(match (sse_params(&path), anthropic) {
        (Some((chunks, every)), false) => sse(&CHAT, chunks, every),
        (Some((chunks, every)), true) => sse(&ANTHROPIC, chunks, every),
        (None, false) => json(Bytes::from_static(COMPLETION.as_bytes())),
        (None, true) => json(Bytes::from_static(MESSAGE.as_bytes())),
    })
}

/// `/sse/{chunks}/{every_ms}/…` → (chunks, spacing).
fn sse_params(path: &str) -> Option<(u32, Duration)> {
    let mut parts = path.strip_prefix("/sse/")?.split('/');
    let chunks = parts.next()?.parse().ok()?;
    let every = parts.next()?.parse().ok()?;
    Some((chunks, Duration::from_millis(every)))
}

fn json(body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body).boxed_unsync());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Chunk `i` leaves at `start + i × every` (on tokio's 1 ms timer wheel);
/// the usage event and the end follow the last chunk at once. The first
/// chunk carries the script's opening events, if any, in the same frame.
fn sse(script: &'static Script, chunks: u32, every: Duration) -> Response<Body> {
    let start = tokio::time::Instant::now();
    let first = Bytes::from([script.first, script.chunk].concat());
    let events = futures_util::stream::unfold(0u32, move |i| {
        let first = first.clone();
        async move {
            if i > chunks {
                return None;
            }
            let data = if i == 0 && chunks > 0 {
                first
            } else if i < chunks {
                tokio::time::sleep_until(start + every * i).await;
                Bytes::from_static(script.chunk.as_bytes())
            } else {
                Bytes::from_static(script.last.as_bytes())
            };
            Some((Ok::<_, Infallible>(Frame::data(data)), i + 1))
        }
    });
    let mut response = Response::new(StreamBody::new(events).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// What `cargo test --benches` checks (the bench has no test harness, so
/// `#[test]` functions here would never run): SSE paths parse, and every
/// `data:` line of every script is JSON (or `[DONE]`), each Anthropic event
/// named by its `event:` line, as the real API does.
pub fn self_check() -> Result<(), String> {
    let params = sse_params("/sse/20/5/v1/chat/completions");
    if params != Some((20, Duration::from_millis(5))) || sse_params("/json/v1/chat/completions").is_some() {
        return Err(format!("sse_params: {params:?}"));
    }
    for script in [&CHAT, &ANTHROPIC] {
        let text = [script.first, script.chunk, script.last].concat();
        for event in text.split("\n\n").filter(|e| !e.is_empty()) {
            let data = event.lines().find_map(|l| l.strip_prefix("data: "));
            let data = data.ok_or_else(|| format!("no data line in {event:?}"))?;
            if data == "[DONE]" {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(data).map_err(|e| format!("{data}: {e}"))?;
            if let Some(kind) = value["type"].as_str() {
                if event.lines().next() != Some(format!("event: {kind}").as_str()) {
                    return Err(format!("{kind} without its event line"));
                }
            }
        }
    }
    for answer in [COMPLETION, MESSAGE] {
        serde_json::from_str::<serde_json::Value>(answer).map_err(|e| format!("{answer}: {e}"))?;
    }
    Ok(())
}
