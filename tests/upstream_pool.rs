//! Upstream connections: reused while they last, replaced without a failed
//! or retried request when the server closes them (a keep-alive timeout, or
//! a close right after a response that the server did not announce).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// When the bare upstream closes a connection.
#[derive(Clone, Copy)]
enum Close {
    /// After this long without a next request (a keep-alive timeout).
    Idle(Duration),
    /// Right after each response, without saying so (`Connection: close`
    /// absent): the gateway learns of it only from the socket.
    AfterEach,
}

/// A bare HTTP/1.1 upstream answering every request with a small chat
/// completion; counts connections and requests.
struct Bare {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl Bare {
    async fn start(close: Close) -> Bare {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (connections, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let counts = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counts.0.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, close, counts.1.clone()));
            }
        });
        Bare {
            addr,
            connections,
            requests,
        }
    }

    fn yaml(&self) -> String {
        format!(
            "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/local\n      api_base: http://{}/v1\n      num_retries: 0\n",
            self.addr
        )
    }
}

async fn serve(mut stream: TcpStream, close: Close, requests: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            let read = match close {
                Close::Idle(idle) => match tokio::time::timeout(idle, stream.read(&mut chunk)).await {
                    Ok(read) => read,
                    Err(_) => return, // idle too long: close
                },
                Close::AfterEach => stream.read(&mut chunk).await,
            };
            match read {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
        let body = json!({"id": format!("r{n}"), "object": "chat.completion", "model": "local",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
        .to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        if let Close::AfterEach = close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// The gateway on one core: these tests count one pool's connections (each
/// core has a pool of its own).
async fn one_core(yaml: &str) -> TestGateway {
    let loaded = tollgate::config::load_str(yaml, std::path::Path::new("."), &|_: &str| None).unwrap();
    TestGateway::serve_cores(loaded.config, 1).await
}

async fn chat(gateway: &TestGateway) -> Answer {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    post_json(&gateway.url("/v1/chat/completions"), &[], body).await
}

#[tokio::test]
async fn one_connection_serves_sequential_requests() {
    let upstream = Bare::start(Close::Idle(Duration::from_secs(30))).await;
    let gateway = one_core(&upstream.yaml()).await;
    for _ in 0..20 {
        let answer = chat(&gateway).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 20);
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_requests_open_connections_then_share_them() {
    let upstream = Bare::start(Close::Idle(Duration::from_secs(30))).await;
    let gateway = Arc::new(one_core(&upstream.yaml()).await);
    let burst = |n: usize| {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let gateway = gateway.clone();
                tokio::spawn(async move { chat(&gateway).await.status })
            })
            .collect();
        async move {
            for task in tasks {
                assert_eq!(task.await.unwrap(), 200);
            }
        }
    };
    burst(40).await;
    let opened = upstream.connections.load(Ordering::SeqCst);
    assert!((1..=40).contains(&opened), "{opened}");
    // The pool holds what the burst opened: a second burst opens no more
    // than the first left room for.
    burst(40).await;
    for _ in 0..10 {
        assert_eq!(chat(&gateway).await.status, 200);
    }
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 90);
    let after = upstream.connections.load(Ordering::SeqCst);
    assert!(after <= 40, "{opened} then {after} connections for 90 requests");
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced_without_a_retry() {
    let upstream = Bare::start(Close::Idle(Duration::from_millis(50))).await;
    let gateway = one_core(&upstream.yaml()).await;
    for round in 1..=4 {
        let answer = chat(&gateway).await;
        assert_eq!(answer.status, 200, "round {round}: {:?}", answer.body);
        assert_eq!(answer.header("x-tollgate-retries"), Some("0"));
        // Past the upstream's keep-alive: it closes the connection.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 4);
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_connection_closed_right_after_its_response_is_not_reused() {
    // The upstream closes after each response without `Connection: close`:
    // the gateway learns of it only from the socket, while it relays the
    // body or at the next checkout. No request may fail or be retried.
    let upstream = Bare::start(Close::AfterEach).await;
    let gateway = one_core(&upstream.yaml()).await;
    for i in 0..30 {
        let answer = chat(&gateway).await;
        assert_eq!(answer.status, 200, "request {i}: {:?}", answer.body);
        assert_eq!(answer.header("x-tollgate-retries"), Some("0"), "request {i}");
    }
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 30);
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 30);
}
