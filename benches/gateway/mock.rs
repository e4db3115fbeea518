//! The mock upstream: answers any POST at once with an OpenAI chat completion,
//! or, under `/sse/{chunks}/{every_ms}/…`, with an SSE stream of `chunks`
//! events `every_ms` apart (the first at once), then a usage event and
//! `[DONE]`. `GET /stats` counts what it received, so it doubles as an OTLP
//! sink (any POST gets 200).

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
    Ok(match sse_params(&path) {
        Some((chunks, every)) => sse(chunks, every),
        None => json(Bytes::from_static(COMPLETION.as_bytes())),
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
/// the usage event and `[DONE]` follow the last chunk at once.
fn sse(chunks: u32, every: Duration) -> Response<Body> {
    let start = tokio::time::Instant::now();
    let events = futures_util::stream::unfold(0u32, move |i| async move {
        if i > chunks {
            return None;
        }
        let data = if i < chunks {
            if i > 0 {
                tokio::time::sleep_until(start + every * i).await;
            }
            Bytes::from_static(CHUNK.as_bytes())
        } else {
            Bytes::from_static(LAST.as_bytes())
        };
        Some((Ok::<_, Infallible>(Frame::data(data)), i + 1))
    });
    let mut response = Response::new(StreamBody::new(events).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn sse_paths_parse() {
        assert_eq!(
            super::sse_params("/sse/20/5/v1/chat/completions"),
            Some((20, std::time::Duration::from_millis(5)))
        );
        assert_eq!(super::sse_params("/json/v1/chat/completions"), None);
    }
}
