//! Hardening: connections, bodies, limits and the process as a whole.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::common::process::Running;
use crate::common::*;
use tollgate::gateway::Gateway;
use tollgate::request::BodyLimits;
use tollgate::server::Limits;

/// A gateway in this process with these limits.
struct Limited {
    addr: std::net::SocketAddr,
    gateway: Arc<Gateway>,
    _stop: oneshot::Sender<()>,
}

async fn start_limited(yaml: &str, limits: Limits, bodies: BodyLimits) -> Limited {
    let loaded = tollgate::config::load_str(yaml, std::path::Path::new("."), &|_: &str| None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway = Arc::new(Gateway::with_body_limits(loaded.config, bodies));
    let (tx, rx) = oneshot::channel::<()>();
    let stop = async move {
        let _ = rx.await;
    };
    tokio::spawn(tollgate::server::serve_with(
        listener,
        gateway.clone(),
        stop,
        Duration::from_secs(1),
        limits,
    ));
    Limited {
        addr,
        gateway,
        _stop: tx,
    }
}

/// Sends raw bytes on a new connection and reads until the server closes
/// it (or `wait` passes): the bytes read and whether it was closed.
async fn raw(addr: std::net::SocketAddr, request: &[u8], wait: Duration) -> (String, bool) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut got = Vec::new();
    let closed = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

fn chat_body(model: &str) -> String {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}).to_string()
}

/// Issue 11, item 1: `"stream": true` answered 2xx with a Content-Length
/// (an embedding, a JSON completion, an SSE body sent whole) panicked in
/// the response body's size hint and, with `panic = "abort"`, ended the process.
#[tokio::test]
async fn a_stream_request_answered_with_a_sized_body_is_relayed_whole() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "up")], "")).await;
    let embedding = json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
                           "model": "up", "usage": {"prompt_tokens": 1, "total_tokens": 1}});
    mock.script([Reply::Json(200, embedding.clone()), Reply::Json(200, embedding.clone())]);
    for path in ["/v1/embeddings", "/v1/chat/completions"] {
        let body = json!({"model": "m", "stream": true, "input": "hi", "messages": []});
        let answer = post_json(&gw.url(path), &[], body).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.json(), embedding, "{path}");
    }
    // And the gateway still serves.
    let answer = post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "m", "messages": []}),
    )
    .await;
    assert_eq!(answer.status, 200);
}

fn quick_limits(max_connections: usize) -> Limits {
    Limits {
        header_timeout: Duration::from_millis(700),
        idle_timeout: Duration::from_millis(700),
        max_connections,
    }
}

fn bodies() -> BodyLimits {
    BodyLimits::new(64 * 1024 * 1024, Duration::from_millis(700))
}

/// Item 2: a connection that sends nothing, only `P` (the version sniff),
/// half a head, or stops after its response is closed on its timeout.
#[tokio::test]
async fn connections_that_never_finish_a_request_are_closed() {
    let mock = Mock::start().await;
    let gw = start_limited(&config_for(&mock, &[("m", "up")], ""), quick_limits(64), bodies()).await;
    let wait = Duration::from_secs(5);
    let started = Instant::now();
    let silent = raw(gw.addr, b"", wait);
    let sniff = raw(gw.addr, b"P", wait);
    let half_head = raw(gw.addr, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n", wait);
    let h2_preface_only = raw(gw.addr, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", wait);
    let (silent, sniff, half_head, h2) = tokio::join!(silent, sniff, half_head, h2_preface_only);
    for (name, (_, closed)) in [
        ("silent", silent),
        ("P", sniff),
        ("half head", half_head),
        ("idle h2", h2),
    ] {
        assert!(closed, "{name}: still open after {wait:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // Kept alive after an answer, then silent: closed after the idle timeout.
    let body = chat_body("m");
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (answer, closed) = raw(gw.addr, request.as_bytes(), wait).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "kept-alive connection still open after {wait:?}");
}

/// Item 2: a body that stalls halfway gets 408 after the body timeout.
#[tokio::test]
async fn a_stalled_body_is_refused_after_the_body_timeout() {
    let mock = Mock::start().await;
    let gw = start_limited(&config_for(&mock, &[("m", "up")], ""), quick_limits(64), bodies()).await;
    let request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"model\":";
    let (answer, _) = raw(gw.addr, request, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_read_timeout"), "{answer}");
    assert!(mock.calls().is_empty());
}

/// The `tollgate` binary in front of `mock`, with these flags, and the
/// folder of its config.
fn start_binary(mock: &Mock, args: &[&str]) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(config_for(mock, &[("m", "up")], "").as_bytes())
        .unwrap();
    (Running::start(&path, args, &[]), dir)
}

/// Item 2: more silent sockets than the connection limit (`ulimit -n 1024`
/// and 1,100 sockets locked every client out) do not keep a real client
/// from being served, well before any timeout: the binary, with its flags.
#[tokio::test]
async fn a_silent_flood_does_not_lock_clients_out() {
    let mock = Mock::start().await;
    let (gw, _dir) = start_binary(&mock, &["--max-connections", "16", "--header-timeout-seconds", "30"]);
    let addr: std::net::SocketAddr = gw.addr.parse().unwrap();
    let mut flood = Vec::new();
    for i in 0..200 {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 0 {
            socket.write_all(b"P").await.unwrap();
        }
        flood.push(socket);
    }
    let started = Instant::now();
    for _ in 0..5 {
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            post_json(
                &gw.url("/v1/chat/completions"),
                &[],
                json!({"model": "m", "messages": []}),
            ),
        )
        .await
        .expect("a client is served while silent sockets fill every slot");
        assert_eq!(answer.status, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    drop(flood);
}

/// Item 7: a model name of megabytes is echoed cut short, in the error and
/// in the access log line (three 30 MiB names left +470 MiB resident).
#[tokio::test]
async fn a_huge_model_name_is_echoed_cut_short() {
    let mock = Mock::start().await;
    let (gw, _dir) = start_binary(&mock, &[]);
    let huge = "é".repeat(4 * 1024 * 1024);
    let answer = post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": huge, "messages": []}),
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.error_code(), "model_not_found");
    let message = answer.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.len() < 1024, "{} bytes echoed", message.len());
    assert!(message.contains(&format!("{}…", "é".repeat(tollgate::error::MODEL_ECHO_CHARS))));
    let logged = Instant::now();
    let access = loop {
        let output = gw.output();
        if let Some(line) = output.lines().find(|l| l.contains("model_not_found")) {
            break line.to_string();
        }
        assert!(
            logged.elapsed() < Duration::from_secs(5),
            "no access line in {} bytes of log",
            output.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(access.len() < 2048, "access line of {} bytes", access.len());
    assert!(access.contains('…'), "{access}");
}

/// Item 11: a body the provider's parser would refuse (invalid UTF-8 in a
/// string, nesting deeper than 128) is refused here, before any deployment
/// sees it (and could be cooled down for it).
#[tokio::test]
async fn a_body_that_is_not_valid_json_never_reaches_the_provider() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "m")], "")).await;
    let invalid_utf8 = b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xe9\"}]}".to_vec();
    let deep = format!(
        r#"{{"model":"m","messages":[],"metadata":{}1{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    for body in [invalid_utf8, deep.into_bytes()] {
        let answer = send(
            "POST",
            &gw.url("/v1/chat/completions"),
            &[("content-type", "application/json")],
            body,
        )
        .await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.error_code(), "invalid_json");
    }
    assert!(mock.calls().is_empty(), "the provider got {:?}", mock.calls());
    // Nesting up to the limit is passed through byte for byte.
    let at_limit = format!(
        r#"{{"model":"m","messages":[],"metadata":{}1{}}}"#,
        "[".repeat(127),
        "]".repeat(127)
    );
    let answer = send("POST", &gw.url("/v1/chat/completions"), &[], at_limit.clone()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(mock.calls()[0].body, at_limit.as_bytes());
}

/// Item 12: bodies being read share one memory budget; past it a request
/// gets 503 with Retry-After at once, and the budget comes back when the
/// body is done.
#[tokio::test]
async fn buffered_bodies_share_one_budget() {
    let mock = Mock::start().await;
    // Each body counts twice (its upstream copy): 900 KiB takes 1,800 of 2,048.
    let budget = BodyLimits::new(2 * 1024 * 1024, Duration::from_secs(10));
    let gw = start_limited(&config_for(&mock, &[("m", "up")], ""), quick_limits(64), budget).await;
    // An upload that declared 900 KiB and sends it slowly holds that much.
    let mut slow = TcpStream::connect(gw.addr).await.unwrap();
    let pad = 900 * 1024 - chat_body("m").len() - 20;
    let big = format!(r#"{{"model":"m","messages":[],"x":"{}"}}"#, "a".repeat(pad));
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        big.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&big.as_bytes()[..1000]).await.unwrap();
    let limits = gw.gateway.body_limits();
    let held = Instant::now();
    while limits.available() == limits.total() {
        assert!(
            held.elapsed() < Duration::from_secs(5),
            "the upload never took its share"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let url = format!("http://{}/v1/chat/completions", gw.addr);
    let second = json!({"model": "m", "messages": [], "x": "b".repeat(200 * 1024)});
    let answer = post_json(&url, &[], second.clone()).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.error_code(), "gateway_busy");
    assert_eq!(answer.header("retry-after"), Some("1"));
    // The slow upload finishes and is answered; its share comes back.
    slow.write_all(&big.as_bytes()[1000..]).await.unwrap();
    let mut head = [0u8; 12];
    slow.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let back = Instant::now();
    while limits.available() != limits.total() {
        assert!(back.elapsed() < Duration::from_secs(5), "the budget did not come back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(post_json(&url, &[], second).await.status, 200);
}

/// Item 14: steering fields are refused whatever their spelling, and the
/// credential and endpoint parameters LiteLLM reads from a body are all there.
#[tokio::test]
async fn steering_fields_are_refused_in_any_spelling() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "up")], "")).await;
    let names = [
        ("API_BASE", "api_base"),
        ("apiBase", "api_base"),
        ("api-base", "api_base"),
        ("azure_endpoint", "azure_endpoint"),
        ("aws_bedrock_runtime_endpoint", "aws_bedrock_runtime_endpoint"),
        ("AWS_PROFILE_NAME", "aws_profile_name"),
        ("awsRoleName", "aws_role_name"),
        ("aws_web_identity_token", "aws_web_identity_token"),
        ("vertexAiCredentials", "vertex_ai_credentials"),
        ("Organization", "organization"),
    ];
    for (sent, canonical) in names {
        let body = json!({"model": "m", "messages": [], sent: "http://attacker.example"});
        let answer = post_json(&gw.url("/v1/chat/completions"), &[], body).await;
        assert_eq!(answer.status, 400, "{sent}");
        assert_eq!(answer.error_code(), "forbidden_field", "{sent}");
        assert_eq!(answer.json()["error"]["param"], canonical, "{sent}");
    }
    assert!(mock.calls().is_empty());
}

/// Item 16: `/metrics` is rendered at most once a second, however often it
/// is scraped.
#[tokio::test]
async fn metrics_scrapes_within_a_second_share_one_render() {
    let mock = Mock::start().await;
    let gw = TestGateway::start(&config_for(&mock, &[("m", "up")], "")).await;
    let first = send("GET", &gw.url("/metrics"), &[], "").await;
    // Counters move between the two scrapes.
    let answer = post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": "m", "messages": []}),
    )
    .await;
    assert_eq!(answer.status, 200);
    let second = send("GET", &gw.url("/metrics"), &[], "").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, second.body);
    assert_eq!(gw.gateway.metrics_renders(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let third = send("GET", &gw.url("/metrics"), &[], "").await;
    assert_eq!(gw.gateway.metrics_renders(), 2);
    assert_ne!(first.body, third.body);
}

/// A tracing subscriber that panics on the access line of one model: a
/// panic inside one request's task, the way a bug would raise it, through
/// a seam any deployment has (the subscriber) rather than a trigger in the
/// gateway's code.
struct PanicsOnModel {
    model: &'static str,
    panics: Arc<std::sync::atomic::AtomicUsize>,
}

impl tracing::Subscriber for PanicsOnModel {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Model<'a>(&'a str, bool);
        impl tracing::field::Visit for Model<'_> {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.1 |= field.name() == "model" && value == self.0;
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut model = Model(self.model, false);
        event.record(&mut model);
        if model.1 {
            self.panics.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            panic!("a bug in one request (this panic is the test's)");
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// "A panic in one request never ends the process": with `panic = "unwind"`
/// (release and tests alike) the panic ends that request's connection task;
/// a stream in flight on another connection finishes, new requests are
/// served, and the server still drains cleanly. Under `panic = "abort"` this
/// test binary would die at the panic.
#[tokio::test]
async fn a_panic_in_one_request_ends_only_that_request() {
    let panics = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // The test's runtime has one thread: every task of the gateway runs under this subscriber.
    let _subscriber = tracing::subscriber::set_default(PanicsOnModel {
        model: "panics",
        panics: panics.clone(),
    });
    let mock = Mock::start().await;
    let yaml = config_for(&mock, &[("steady", "up"), ("panics", "up")], "");
    let config = tollgate::config::load_str(&yaml, std::path::Path::new("."), &|_: &str| None)
        .unwrap()
        .config;
    let gw = TestGateway::serve_here(config).await;
    let events: Vec<String> = (0..4).map(|i| chunk("up", &format!("part {i} "))).collect();
    mock.script([Reply::Sse(events, Duration::from_millis(150))]);
    let url = gw.url("/v1/chat/completions");
    let streamed = json!({"model": "steady", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let in_flight = tokio::spawn(async move { stream_frames(&url, &[], streamed).await });
    while mock.calls().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A keep-alive request: only the panic ends its connection this soon.
    let body = chat_body("panics");
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let (_, closed) = raw(gw.addr, request.as_bytes(), Duration::from_secs(5)).await;
    assert!(closed, "the panic ended the request's connection");
    assert_eq!(
        panics.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the request's task panicked"
    );
    assert!(
        !in_flight.is_finished(),
        "the other stream was still in flight at the panic"
    );

    let (status, frames) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    let text = frames_text(&frames);
    assert!(text.contains("part 3") && text.ends_with("data: [DONE]\n\n"), "{text}");
    let answer = send("POST", &gw.url("/v1/chat/completions"), &[], chat_body("steady")).await;
    assert_eq!(answer.status, 200);
    assert!(gw.stop().await, "the server drained as usual");
}
