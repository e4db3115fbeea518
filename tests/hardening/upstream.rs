//! Hardening: odd provider answers, keys and cooldowns.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

/// What a `Raw` upstream answers to a request for a path: status, headers, body.
type Answerer = dyn Fn(&str) -> (u16, Vec<(String, String)>, String) + Send + Sync;

/// A bare HTTP/1.1 upstream that writes exactly the headers it is given
/// (hyper's server would add or refuse some), and can close each connection
/// shortly after its response (`close_after`) without announcing it and
/// without reading what arrived meanwhile.
struct Raw {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl Raw {
    async fn start(close_after: Option<Duration>, answer: Arc<Answerer>) -> Raw {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, close_after, answer.clone(), counter.clone()));
            }
        });
        Raw { addr, requests }
    }

    fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut stream: TcpStream,
    close_after: Option<Duration>,
    answer: Arc<Answerer>,
    requests: Arc<AtomicUsize>,
) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
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
        requests.fetch_add(1, Ordering::SeqCst);
        let (status, headers, body) = answer(&path);
        let mut response = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
        for (name, value) in headers {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&body);
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        if let Some(wait) = close_after {
            tokio::time::sleep(wait).await;
            return;
        }
    }
}

fn completion() -> String {
    json!({"id": "r1", "object": "chat.completion", "model": "local",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    .to_string()
}

fn json_headers(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    headers
}

/// One deployment `m` on `base` with `key`, then `extra` YAML.
fn one_entry(base: &str, key: &str, extra: &str) -> String {
    format!(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/local\n      api_base: {base}\n      api_key: \"{key}\"\n{extra}"
    )
}

async fn chat(gateway: &TestGateway) -> Answer {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    post_json(&gateway.url("/v1/chat/completions"), &[], body).await
}

fn assert_length_matches(answer: &Answer) {
    let length = answer.header("content-length").map(|v| v.parse::<usize>().unwrap());
    assert_eq!(length, Some(answer.body.len()), "content-length follows the body");
}

/// Item 4: "Incorrect API key provided: sk-…" echoed by a provider, in the
/// body (as written and JSON-escaped, `/` as `\/`) and in a header, for the
/// deployment's own key and for another entry's, never reaches the client.
#[tokio::test]
async fn a_provider_echoing_keys_in_an_error_does_not_hand_them_to_the_client() {
    const KEY: &str = "sk-live/Abc+Def=Ghij9876";
    const OTHER: &str = "sk-other-Zyxw5432";
    const HEADER_TOKEN: &str = "tok-Qrst1234";
    let answer: Arc<Answerer> = Arc::new(|_path| {
        let message = format!("Incorrect API key provided: {KEY}. Also tried {OTHER} and {HEADER_TOKEN}.");
        // serde_json writes `/` as is; some encoders write `\/`.
        let body = json!({"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}})
            .to_string()
            .replacen('/', "\\/", 1);
        assert!(body.contains("sk-live\\/Abc"), "{body}");
        let echo = format!("Bearer {KEY}");
        (
            401,
            json_headers(&[("openai-echo", &echo), ("x-request-id", OTHER)]),
            body,
        )
    });
    let upstream = Raw::start(None, answer).await;
    let extra = format!(
        "      headers:\n        X-Api-Token: \"Bearer {HEADER_TOKEN}\"\n  - model_name: other\n    litellm_params:\n      model: openai/local\n      api_base: {}\n      api_key: {OTHER}\n",
        upstream.base()
    );
    let gateway = TestGateway::start(&one_entry(&upstream.base(), KEY, &extra)).await;
    let answer = chat(&gateway).await;
    assert_eq!(answer.status, 401);
    let text = String::from_utf8_lossy(&answer.body);
    for secret in ["Abc+Def", "Zyxw5432", "Qrst1234"] {
        assert!(!text.contains(secret), "{secret} in body: {text}");
        for (name, value) in &answer.headers {
            assert!(
                !String::from_utf8_lossy(value.as_bytes()).contains(secret),
                "{secret} in header {name}"
            );
        }
    }
    let body: Value = answer.json();
    assert_eq!(
        body["error"]["message"],
        "Incorrect API key provided: [redacted]. Also tried [redacted] and [redacted]."
    );
    assert_eq!(body["error"]["code"], "invalid_api_key", "the rest passes as sent");
    assert_eq!(answer.header("openai-echo"), Some("Bearer [redacted]"));
    assert_eq!(answer.header("x-request-id"), Some("[redacted]"));
    assert_length_matches(&answer);
}

/// Item 4: a compressed error body cannot be searched for a key, so it is
/// withheld rather than relayed unchecked.
#[tokio::test]
async fn a_compressed_error_body_is_withheld() {
    let answer: Arc<Answerer> = Arc::new(|_| {
        // Stands for gzip bytes that might hold the key.
        let body = "\u{1f}\u{8b}sk-gz-Key-1234567".to_string();
        (401, json_headers(&[("content-encoding", "gzip")]), body)
    });
    let upstream = Raw::start(None, answer).await;
    let gateway = TestGateway::start(&one_entry(&upstream.base(), "sk-gz-Key-1234567", "")).await;
    let answer = chat(&gateway).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.header("content-encoding"), None);
    assert_eq!(answer.header("x-tollgate-error"), Some("upstream_error_withheld"));
    assert_eq!(answer.error_code(), "upstream_error_withheld");
    assert_length_matches(&answer);
}

/// Item 13: provider cookies and debug headers naming internal hosts stay
/// behind, on answers and on errors; request ids, rate limits, retry hints
/// and `openai-*` processing headers (not the account ones) reach the client.
#[tokio::test]
async fn provider_cookies_and_debug_headers_stay_behind() {
    let answer: Arc<Answerer> = Arc::new(|path| {
        let headers = json_headers(&[
            ("set-cookie", "__cf_bm=abc; path=/; HttpOnly"),
            ("x-upstream-debug", "internal-host-10.0.0.5"),
            ("server", "envoy-internal"),
            ("via", "1.1 10.0.0.5"),
            ("x-request-id", "req-123"),
            ("x-ratelimit-remaining-requests", "99"),
            ("anthropic-ratelimit-tokens-remaining", "1000"),
            ("openai-processing-ms", "42"),
            ("openai-organization", "org-gateway-account"),
            ("retry-after", "0"),
        ]);
        if path.ends_with("/embeddings") {
            (500, headers, json!({"error": {"message": "boom"}}).to_string())
        } else {
            (200, headers, completion())
        }
    });
    let upstream = Raw::start(None, answer).await;
    let gateway = TestGateway::start(&one_entry(&upstream.base(), "sk-key-123456", "")).await;
    let ok = chat(&gateway).await;
    let failed = post_json(
        &gateway.url("/v1/embeddings"),
        &[],
        json!({"model": "m", "input": "hi"}),
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(failed.status, 500, "{:?}", failed.body);
    for answer in [&ok, &failed] {
        for gone in ["set-cookie", "x-upstream-debug", "via", "openai-organization"] {
            assert_eq!(answer.header(gone), None, "{gone} reached the client");
        }
        assert_ne!(answer.header("server"), Some("envoy-internal"));
        assert_eq!(answer.header("x-request-id"), Some("req-123"));
        assert_eq!(answer.header("x-ratelimit-remaining-requests"), Some("99"));
        assert_eq!(answer.header("anthropic-ratelimit-tokens-remaining"), Some("1000"));
        assert_eq!(answer.header("openai-processing-ms"), Some("42"));
        assert_eq!(answer.header("retry-after"), Some("0"));
        assert_eq!(answer.header("content-type"), Some("application/json"));
    }
}

/// Item 8: a provider that closes every connection right after answering,
/// without `Connection: close`, under concurrent load. Requests the gateway
/// sent on a connection the provider had just closed never reached it: each
/// is sent again on a new connection, so none fails, none is counted as a
/// retry, and none cools the deployment down (`allowed_fails: 0`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_closing_each_connection_after_answering_fails_no_request() {
    let answer: Arc<Answerer> = Arc::new(|_| (200, json_headers(&[]), completion()));
    let upstream = Raw::start(Some(Duration::from_millis(2)), answer).await;
    // `timeout` bounds a stalled upstream request (see the report on issue 11:
    // one in a few dozen runs of this load stalled, on a08893d too).
    let extra = "      timeout: 10\nrouter_settings:\n  num_retries: 0\n  allowed_fails: 0\n  cooldown_time: 60\n";
    let gateway = Arc::new(TestGateway::start(&one_entry(&upstream.base(), "sk-key-123456", extra)).await);
    let (workers, each) = (16, 40);
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let gateway = gateway.clone();
            tokio::spawn(async move {
                let mut bad = Vec::new();
                for _ in 0..each {
                    let answer = chat(&gateway).await;
                    if answer.status != 200 || answer.header("x-tollgate-retries") != Some("0") {
                        bad.push((answer.status, String::from_utf8_lossy(&answer.body).into_owned()));
                    }
                }
                bad
            })
        })
        .collect();
    let mut bad = Vec::new();
    for task in tasks {
        bad.extend(task.await.unwrap());
    }
    assert!(
        bad.is_empty(),
        "{} of {} requests failed, first: {:?}",
        bad.len(),
        workers * each,
        bad.first()
    );
    assert_eq!(
        upstream.requests(),
        workers * each,
        "each request reached the provider once"
    );
}

/// Item 10: a provider that does not serve `/v1/responses` answers 404, and
/// one that rejects a body answers 400; neither says the deployment is
/// unhealthy, so its chat traffic keeps flowing (`allowed_fails: 1`).
#[tokio::test]
async fn errors_that_are_the_requests_fault_cool_nothing_down() {
    let answer: Arc<Answerer> = Arc::new(|path| {
        let error = |status: u16, message: &str| {
            let body = json!({"error": {"message": message, "type": "invalid_request_error"}}).to_string();
            (status, json_headers(&[]), body)
        };
        match path {
            "/v1/responses" => error(404, "Not Found"),
            "/v1/embeddings" => error(400, "input must not be empty"),
            "/v1/completions" => error(422, "unprocessable"),
            _ => (200, json_headers(&[]), completion()),
        }
    });
    let upstream = Raw::start(None, answer).await;
    // Said to serve Responses itself, so `/v1/responses` goes to it as is.
    let extra = "      use_chat_completions_api: false\nrouter_settings:\n  num_retries: 0\n  allowed_fails: 1\n  cooldown_time: 60\n";
    let gateway = TestGateway::start(&one_entry(&upstream.base(), "sk-key-123456", extra)).await;
    for (path, status) in [
        ("/v1/responses", 404),
        ("/v1/embeddings", 400),
        ("/v1/completions", 422),
    ] {
        for _ in 0..4 {
            let answer = post_json(&gateway.url(path), &[], json!({"model": "m", "input": ""})).await;
            assert_eq!(answer.status, status, "{path}");
        }
    }
    let answer = chat(&gateway).await;
    assert_eq!(answer.status, 200, "chat after the request errors: {:?}", answer.body);
}

/// Item 15: a 429 with `Retry-After: 1` cools the only deployment down for
/// longer than that: waiting a second to find it still cooling would only
/// delay the answer, and count a retry that never reached the provider.
#[tokio::test]
async fn no_wait_for_a_retry_that_cannot_happen() {
    let answer: Arc<Answerer> = Arc::new(|_| {
        let body = json!({"error": {"message": "slow down", "type": "rate_limit_error"}}).to_string();
        (429, json_headers(&[("retry-after", "1")]), body)
    });
    let upstream = Raw::start(None, answer).await;
    let extra = "router_settings:\n  num_retries: 2\n  cooldown_time: 5\n";
    let gateway = TestGateway::start(&one_entry(&upstream.base(), "sk-key-123456", extra)).await;
    let started = Instant::now();
    let answer = chat(&gateway).await;
    let took = started.elapsed();
    assert_eq!(answer.status, 429);
    assert_eq!(
        answer.header("x-tollgate-retries"),
        Some("0"),
        "no retry reached the provider"
    );
    assert_eq!(upstream.requests(), 1);
    assert!(took < Duration::from_millis(800), "answered after {took:?}");
}

/// Item 15, the other side: when the cooldown ends before the provider's
/// `Retry-After`, the gateway waits and the retry reaches the provider.
#[tokio::test]
async fn a_wait_that_ends_after_the_cooldown_still_retries() {
    let calls = Arc::new(Mutex::new(0));
    let seen = calls.clone();
    let answer: Arc<Answerer> = Arc::new(move |_| {
        let mut n = seen.lock().unwrap();
        *n += 1;
        if *n == 1 {
            let body = json!({"error": {"message": "slow down"}}).to_string();
            (429, json_headers(&[("retry-after", "0.3")]), body)
        } else {
            (200, json_headers(&[]), completion())
        }
    });
    let upstream = Raw::start(None, answer).await;
    let extra = "router_settings:\n  num_retries: 1\n  cooldown_time: 0.1\n";
    let gateway = TestGateway::start(&one_entry(&upstream.base(), "sk-key-123456", extra)).await;
    let answer = chat(&gateway).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.header("x-tollgate-retries"), Some("1"));
    assert_eq!(upstream.requests(), 2);
}
