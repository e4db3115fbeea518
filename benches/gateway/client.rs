//! The Rust clients: closed-loop POST load with exact latency percentiles,
//! time to first chunk, and chunk arrival against the sending schedule. Each
//! runs as a subcommand (pinned by the orchestrator) and prints its result as
//! one JSON line.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpStream;

/// The key every client sends: tollgate's master key (the mock and nginx ignore it).
pub const KEY: &str = "sk-bench-master";

/// The wire format a client speaks: which body it sends, and the
/// `anthropic-version` header for Anthropic's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// OpenAI chat completions.
    #[default]
    Chat,
    /// Anthropic Messages, as Claude Code sends it.
    Anthropic,
    /// OpenAI Responses, as Codex sends it.
    Responses,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Chat => "chat",
            Format::Anthropic => "anthropic",
            Format::Responses => "responses",
        }
    }

    /// The same small request (system prompt, one user turn, 64 tokens at
    /// most) in this format.
    pub fn body(self, model: &str, stream: bool) -> String {
        match self {
            Format::Chat => chat_body(model, stream),
            Format::Anthropic => format!(
                r#"{{"model":"{model}","max_tokens":64,"system":"You are a helpful assistant.","messages":[{{"role":"user","content":"Say hello in one short sentence."}}],"temperature":0.2{}}}"#,
                if stream { r#","stream":true"# } else { "" }
            ),
            Format::Responses => format!(
                r#"{{"model":"{model}","instructions":"You are a helpful assistant.","input":[{{"type":"message","role":"user","content":[{{"type":"input_text","text":"Say hello in one short sentence."}}]}}],"temperature":0.2,"max_output_tokens":64{}}}"#,
                if stream { r#","stream":true"# } else { "" }
            ),
        }
    }

    /// A header this format's clients always send, if any.
    pub fn header(self) -> Option<(&'static str, &'static str)> {
        match self {
            Format::Anthropic => Some(("anthropic-version", "2023-06-01")),
            Format::Chat | Format::Responses => None,
        }
    }
}

/// A typical small chat request body.
pub fn chat_body(model: &str, stream: bool) -> String {
    let stream = if stream {
        r#","stream":true,"stream_options":{"include_usage":true}"#
    } else {
        ""
    };
    format!(
        r#"{{"model":"{model}","messages":[{{"role":"system","content":"You are a helpful assistant."}},{{"role":"user","content":"Say hello in one short sentence."}}],"temperature":0.2,"max_tokens":64{stream}}}"#
    )
}

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Full URL to POST to.
    #[arg(long)]
    url: Uri,
    /// The `model` in the body.
    #[arg(long, default_value = "fast")]
    model: String,
    /// Concurrent connections, each sending one request at a time.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Measured requests in all (after the warm-up).
    #[arg(long, default_value_t = 5000)]
    requests: usize,
    /// Warm-up requests per connection, not measured.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Run for this many seconds instead of a number of requests.
    #[arg(long, default_value_t = 0)]
    secs: u64,
    /// The request's wire format (the URL must be its endpoint).
    #[arg(long, value_enum, default_value_t = Format::Chat)]
    format: Format,
    /// Ask for a streamed answer (read to its end, like the others).
    #[arg(long)]
    stream: bool,
}

#[derive(clap::Args)]
pub struct TtfcArgs {
    #[arg(long)]
    url: Uri,
    #[arg(long, default_value = "sse")]
    model: String,
    /// Measured streams, one after another on one connection.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// The request's wire format (the URL must be its endpoint).
    #[arg(long, value_enum, default_value_t = Format::Chat)]
    format: Format,
}

#[derive(clap::Args)]
pub struct ChunksArgs {
    #[arg(long)]
    url: Uri,
    #[arg(long, default_value = "sse")]
    model: String,
    /// Streams, one after another.
    #[arg(long, default_value_t = 5)]
    streams: usize,
    /// Content chunks the upstream sends per stream.
    #[arg(long)]
    chunks: usize,
    /// The upstream's spacing between chunks.
    #[arg(long)]
    every_ms: u64,
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts")
}

pub fn print(value: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

pub fn fail(what: &str, error: impl std::fmt::Display) -> i32 {
    eprintln!("{what}: {error}");
    print(json!({ "error": format!("{what}: {error}") }));
    1
}

/// Percentiles of nanosecond samples, in microseconds.
pub fn summarize(mut ns: Vec<u64>) -> Value {
    if ns.is_empty() {
        return json!({ "n": 0 });
    }
    ns.sort_unstable();
    let at = |p: f64| ns[((p / 100.0) * (ns.len() - 1) as f64).round() as usize] as f64 / 1e3;
    let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64 / 1e3;
    json!({
        "n": ns.len(),
        "p50_us": at(50.0),
        "p90_us": at(90.0),
        "p99_us": at(99.0),
        "max_us": at(100.0),
        "mean_us": mean,
    })
}

async fn tcp(uri: &Uri) -> std::io::Result<TcpStream> {
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("127.0.0.1:80");
    let stream = TcpStream::connect(authority).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

pub async fn connect_h1(uri: &Uri) -> Result<http1::SendRequest<Full<Bytes>>, String> {
    let stream = tcp(uri).await.map_err(|e| format!("connect: {e}"))?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

pub async fn connect_h2(uri: &Uri) -> Result<http2::SendRequest<Full<Bytes>>, String> {
    let stream = tcp(uri).await.map_err(|e| format!("connect: {e}"))?;
    let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .map_err(|e| format!("h2 handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// A POST in origin form with `Host` (HTTP/1.1), or in absolute form (h2).
pub fn post(uri: &Uri, body: &Bytes, absolute: bool) -> Request<Full<Bytes>> {
    post_as(uri, body, absolute, Format::Chat)
}

/// [`post`] with the headers `format`'s clients send.
pub fn post_as(uri: &Uri, body: &Bytes, absolute: bool, format: Format) -> Request<Full<Bytes>> {
    let target = if absolute {
        uri.to_string()
    } else {
        uri.path_and_query().map_or("/", |p| p.as_str()).to_string()
    };
    let mut builder = Request::post(target)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"));
    if !absolute {
        builder = builder.header(header::HOST, uri.authority().map_or("", |a| a.as_str()));
    }
    if let Some((name, value)) = format.header() {
        builder = builder.header(name, value);
    }
    builder.body(Full::new(body.clone())).expect("a valid request")
}

/// Sends one request and reads the whole answer; `Err` unless it is a 200.
async fn exchange(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    uri: &Uri,
    body: &Bytes,
    format: Format,
) -> Result<(), String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender
        .send_request(post_as(uri, body, false, format))
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    response.into_body().collect().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("status {status}"))
    }
}

pub fn load_main(args: LoadArgs) -> i32 {
    runtime().block_on(load(args))
}

async fn load(args: LoadArgs) -> i32 {
    let body = Bytes::from(args.format.body(&args.model, args.stream));
    let format = args.format;
    let requests = if args.secs > 0 { usize::MAX } else { args.requests };
    let remaining = Arc::new(AtomicUsize::new(requests));
    let secs = Duration::from_secs(args.secs);
    let barrier = Arc::new(tokio::sync::Barrier::new(args.conns + 1));
    let mut tasks = Vec::new();
    for _ in 0..args.conns {
        let (uri, body, remaining, barrier) = (args.url.clone(), body.clone(), remaining.clone(), barrier.clone());
        let warmup = args.warmup;
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0usize;
            let mut sender = connect_h1(&uri).await.ok();
            for _ in 0..warmup {
                if let Some(s) = sender.as_mut() {
                    errors += usize::from(exchange(s, &uri, &body, format).await.is_err());
                }
            }
            barrier.wait().await;
            let deadline = (!secs.is_zero()).then(|| Instant::now() + secs);
            let Some(mut sender) = sender else {
                return (samples, errors + 1);
            };
            while deadline.is_none_or(|d| Instant::now() < d)
                && remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
            {
                let started = Instant::now();
                match exchange(&mut sender, &uri, &body, format).await {
                    Ok(()) => samples.push(started.elapsed().as_nanos() as u64),
                    Err(_) => errors += 1,
                }
            }
            (samples, errors)
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((samples, e)) = task.await {
            all.extend(samples);
            errors += e;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let mut result = summarize(all);
    result["secs"] = json!(secs);
    result["rps"] = json!(result["n"].as_f64().unwrap_or(0.0) / secs);
    result["errors"] = json!(errors);
    print(result);
    0
}

pub fn ttfc_main(args: TtfcArgs) -> i32 {
    runtime().block_on(async move {
        let body = Bytes::from(args.format.body(&args.model, true));
        let mut sender = match connect_h1(&args.url).await {
            Ok(s) => s,
            Err(e) => return fail("ttfc", e),
        };
        let (mut first, mut whole) = (Vec::with_capacity(args.n), Vec::with_capacity(args.n));
        let mut errors = 0usize;
        for i in 0..args.warmup + args.n {
            match one_stream(&mut sender, &args.url, &body, args.format).await {
                Ok((to_first, to_end)) if i >= args.warmup => {
                    first.push(to_first);
                    whole.push(to_end);
                }
                Ok(_) => {}
                Err(_) => {
                    errors += 1;
                    match connect_h1(&args.url).await {
                        Ok(s) => sender = s,
                        Err(e) => return fail("ttfc", e),
                    }
                }
            }
        }
        print(json!({ "ttfc": summarize(first), "whole": summarize(whole), "errors": errors }));
        0
    })
}

/// One stream: nanoseconds to the first data frame and to the end.
async fn one_stream(
    sender: &mut http1::SendRequest<Full<Bytes>>,
    uri: &Uri,
    body: &Bytes,
    format: Format,
) -> Result<(u64, u64), String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let response = sender
        .send_request(post_as(uri, body, false, format))
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let mut body = response.into_body();
    let mut first = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if frame.is_data() && first.is_none() {
            first = Some(started.elapsed().as_nanos() as u64);
        }
    }
    let first = first.ok_or("no data")?;
    Ok((first, started.elapsed().as_nanos() as u64))
}

pub fn chunks_main(args: ChunksArgs) -> i32 {
    runtime().block_on(async move {
        let body = Bytes::from(chat_body(&args.model, true));
        let mut sender = match connect_h1(&args.url).await {
            Ok(s) => s,
            Err(e) => return fail("chunks", e),
        };
        let every = Duration::from_millis(args.every_ms).as_nanos() as i64;
        let (mut late, mut gaps) = (Vec::new(), Vec::new());
        let (mut events, mut coalesced) = (0usize, 0usize);
        for _ in 0..args.streams {
            let arrivals = match arrivals(&mut sender, &args.url, &body).await {
                Ok(a) => a,
                Err(e) => return fail("chunks", e),
            };
            // Only the content chunks keep a schedule; usage and [DONE] follow at once.
            let content = &arrivals[..arrivals.len().min(args.chunks)];
            events += content.len();
            coalesced += content.windows(2).filter(|w| w[0] == w[1]).count();
            let t0 = content.first().copied().unwrap_or(0) as i64;
            for (k, t) in content.iter().enumerate().skip(1) {
                late.push(((*t as i64 - t0) - every * k as i64).max(0) as u64);
                gaps.push(t - content[k - 1]);
            }
        }
        print(json!({
            "events": events,
            "expected": args.chunks * args.streams,
            "coalesced": coalesced,
            "lateness": summarize(late),
            "gap": summarize(gaps),
        }));
        0
    })
}

/// When each SSE event (counted by its blank-line end) arrived, in ns from the request.
async fn arrivals(sender: &mut http1::SendRequest<Full<Bytes>>, uri: &Uri, body: &Bytes) -> Result<Vec<u64>, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let response = sender
        .send_request(post(uri, body, false))
        .await
        .map_err(|e| e.to_string())?;
    let mut body = response.into_body();
    let mut times = Vec::new();
    // An event's "\n\n" may straddle two frames.
    let mut after_newline = false;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() else {
            continue;
        };
        let at = started.elapsed().as_nanos() as u64;
        let straddling = usize::from(after_newline && data.first() == Some(&b'\n'));
        let ends = data.windows(2).filter(|w| w == b"\n\n").count() + straddling;
        times.extend(std::iter::repeat_n(at, ends));
        after_newline = data.last() == Some(&b'\n');
    }
    Ok(times)
}
