//! Thread-per-core serving keeps one truth per process: a reload, a
//! cooldown, an rpm limit and least-busy's in-flight counts made on one core
//! hold on every other; h2 and HTTP/1.1 streams on every core drain on
//! shutdown, in process and in the binary (SIGTERM), and the multi-threaded
//! runtime behind `--runtime multi-thread` still serves and drains.
//!
//! Every request here comes on a new client connection, and the kernel
//! spreads new connections over the cores' sockets (`SO_REUSEPORT`), so a
//! sequence of them lands on several cores.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::process::Running;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

fn entry(name: &str, upstream: &str, base: &str, extra: &str) -> String {
    format!(
        "  - model_name: {name}\n    litellm_params:\n      model: openai/{upstream}\n      api_base: {base}\n      api_key: sk-{upstream}\n{extra}"
    )
}

fn load(yaml: &str) -> tollgate::config::Config {
    tollgate::config::load_str(yaml, std::path::Path::new("."), &|_: &str| None)
        .unwrap_or_else(|problems| panic!("{problems:?}"))
        .config
}

async fn chat(gw: &TestGateway, model: &str) -> Answer {
    post_json(
        &gw.url("/v1/chat/completions"),
        &[],
        json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
}

/// Waits for the binary's log to say `what` (its lines are read by a thread).
async fn says(running: &Running, what: &str) {
    for _ in 0..200 {
        if running.output().contains(what) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no `{what}` in: {}", running.output());
}

fn slow_stream(model: &str, chunks: usize, gap: Duration) -> Reply {
    Reply::Sse((0..chunks).map(|i| chunk(model, &format!("c{i} "))).collect(), gap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_is_seen_by_every_core_at_once() {
    let mock = Mock::start().await;
    let gw = TestGateway::serve_cores(load(&config_for(&mock, &[("old", "u1")], "")), 4).await;
    assert_eq!(chat(&gw, "old").await.status, 200);
    gw.gateway.swap(load(&config_for(&mock, &[("new", "u2")], "")));
    // From the swap on, no core serves the old routes.
    for _ in 0..24 {
        assert_eq!(chat(&gw, "new").await.status, 200);
        assert_eq!(chat(&gw, "old").await.status, 404);
    }
    assert!(gw.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_made_on_one_core_holds_on_every_core() {
    let (limited, other) = (Mock::start().await, Mock::start().await);
    limited.always(Reply::Json(
        429,
        json!({"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}),
    ));
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  num_retries: 1\n  cooldown_time: 60\n",
        entry("g", "limited", &limited.base(), "      order: 1\n"),
        entry("g", "other", &other.base(), "      order: 2\n"),
    );
    let gw = TestGateway::serve_cores(load(&yaml), 4).await;
    for _ in 0..24 {
        assert_eq!(chat(&gw, "g").await.status, 200);
    }
    assert_eq!(limited.calls().len(), 1, "one 429 cooled it down for every core");
    assert_eq!(other.calls().len(), 24);
    assert!(gw.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpm_limit_counts_requests_from_every_core() {
    let mock = Mock::start().await;
    let yaml = format!("model_list:\n{}", entry("m", "u", &mock.base(), "    rpm: 5\n"));
    let gw = TestGateway::serve_cores(load(&yaml), 4).await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(chat(&gw, "m").await.status.as_u16());
    }
    assert_eq!(mock.calls().len(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
    assert!(statuses.iter().skip(5).all(|s| *s == 429), "{statuses:?}");
    assert!(gw.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_busy_counts_streams_held_on_every_core() {
    let (a, b) = (Mock::start().await, Mock::start().await);
    for mock in [&a, &b] {
        mock.always(slow_stream("u", 4, Duration::from_millis(300)));
    }
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  routing_strategy: least-busy\n",
        entry("g", "a", &a.base(), ""),
        entry("g", "b", &b.base(), ""),
    );
    let gw = TestGateway::serve_cores(load(&yaml), 4).await;
    let mut streams = Vec::new();
    for held in 1..=4 {
        let url = gw.url("/v1/chat/completions");
        streams.push(tokio::spawn(async move {
            stream_frames(&url, &[], json!({"model": "g", "stream": true, "messages": []})).await
        }));
        // Each stream is in flight upstream before the next one is routed.
        while a.calls().len() + b.calls().len() < held {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert_eq!(
        (a.calls().len(), b.calls().len()),
        (2, 2),
        "each new stream went to the deployment with fewer in flight"
    );
    for stream in streams {
        let (status, frames) = stream.await.unwrap();
        assert_eq!(status, 200);
        assert!(frames_text(&frames).ends_with("data: [DONE]\n\n"));
    }
    assert!(gw.stop().await);
}

/// h2c streams on several connections, so on several cores; the drain lets
/// each finish, and the listener of every core is closed meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_streams_on_every_core_finish_during_the_drain() {
    let mock = Mock::start().await;
    mock.always(slow_stream("u", 5, Duration::from_millis(100)));
    let gw = TestGateway::serve_cores(load(&config_for(&mock, &[("m", "u")], "")), 3).await;
    let addr = gw.addr;
    let mut streams = Vec::new();
    for _ in 0..6 {
        // A client of its own: a connection of its own, with two streams on it.
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
        for _ in 0..2 {
            let client = client.clone();
            let url = format!("http://{addr}/v1/chat/completions");
            streams.push(tokio::spawn(async move {
                let body = json!({"model": "m", "stream": true, "messages": []}).to_string();
                let request = http::Request::post(url)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                let response = client.request(request).await.unwrap();
                assert_eq!(response.version(), http::Version::HTTP_2);
                let status = response.status();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                (status, String::from_utf8_lossy(&body).to_string())
            }));
        }
    }
    while mock.calls().len() < 12 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopping = tokio::spawn(gw.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..8 {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "no core accepts during the drain"
        );
    }
    for stream in streams {
        let (status, text) = stream.await.unwrap();
        assert_eq!(status, 200);
        assert!(text.contains("c4") && text.ends_with("data: [DONE]\n\n"), "{text}");
    }
    assert!(stopping.await.unwrap(), "every core drained in time");
}

/// The binary on three cores: streams on several connections all finish
/// after SIGTERM, then it exits 0 saying it drained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_streams_of_every_core() {
    let mock = Mock::start().await;
    mock.always(slow_stream("u", 6, Duration::from_millis(100)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, config_for(&mock, &[("m", "u")], "")).unwrap();
    let running = Running::start(&path, &["--worker-threads", "3", "--drain-seconds", "10"], &[]);
    says(&running, "runtime=\"per-core\" threads=3").await;
    let mut streams = Vec::new();
    for _ in 0..9 {
        let url = running.url("/v1/chat/completions");
        streams.push(tokio::spawn(async move {
            stream_frames(&url, &[], json!({"model": "m", "stream": true})).await
        }));
    }
    while mock.calls().len() < 9 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.signal("TERM");
    for stream in streams {
        let (status, frames) = stream.await.unwrap();
        assert_eq!(status, 200);
        let text = frames_text(&frames);
        assert!(text.contains("c5") && text.ends_with("data: [DONE]\n\n"), "{text}");
    }
    let (status, output) = tokio::task::spawn_blocking(move || running.wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(status.success(), "{output}");
    assert!(output.contains("drained=true"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multi_threaded_runtime_still_serves_and_drains() {
    let mock = Mock::start().await;
    mock.always(slow_stream("u", 4, Duration::from_millis(100)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy_config.yaml");
    std::fs::write(&path, config_for(&mock, &[("m", "u")], "")).unwrap();
    let running = Running::start(&path, &["--runtime", "multi-thread", "--worker-threads", "2"], &[]);
    says(&running, "runtime=\"multi-thread\" threads=2").await;
    let url = running.url("/v1/chat/completions");
    let stream = tokio::spawn(async move { stream_frames(&url, &[], json!({"model": "m", "stream": true})).await });
    while mock.calls().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.signal("TERM");
    let (status, frames) = stream.await.unwrap();
    assert_eq!(status, 200);
    assert!(frames_text(&frames).ends_with("data: [DONE]\n\n"));
    let (status, output) = tokio::task::spawn_blocking(move || running.wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(status.success() && output.contains("drained=true"), "{output}");
}
