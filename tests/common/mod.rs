//! Test harness: a scripted loopback upstream speaking OpenAI JSON and SSE,
//! the real gateway on 127.0.0.1:0, and small raw-HTTP helpers.
#![allow(dead_code)]

pub mod otlp;
pub mod process;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use tollgate::gateway::Gateway;

/// One request the mock upstream received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("upstream got JSON")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What the mock answers with.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Echo: a chat completion naming the model it received (SSE if `stream`).
    Echo,
    Json(u16, Value),
    /// SSE events (`data:` payloads), one every `gap`, then `[DONE]`.
    Sse(Vec<String>, Duration),
    /// An SSE body sent verbatim, one frame per string (Anthropic's events
    /// with their `event:` lines; no `[DONE]` added).
    RawSse(Vec<String>),
    /// SSE events, then the connection breaks without `[DONE]`.
    SseBroken(Vec<String>, Duration),
    /// The SSE head at once, the first event only after the delay.
    SseAfter(Duration, Vec<String>),
    /// Waits this long, then answers.
    Delayed(Duration, Box<Reply>),
    /// Never answers.
    Hang,
    /// Closes the connection without a response.
    Close,
}

#[derive(Default)]
struct MockState {
    calls: Mutex<Vec<Call>>,
    script: Mutex<VecDeque<Reply>>,
    /// SSE streams whose reader went away before the end.
    cancelled: AtomicUsize,
    /// TCP connections accepted.
    connections: AtomicUsize,
    /// The reply when the script is empty (`Echo` unless set).
    default: Mutex<Option<Reply>>,
}

/// A scripted OpenAI-compatible upstream on loopback.
#[derive(Clone)]
pub struct Mock {
    pub addr: SocketAddr,
    state: Arc<MockState>,
}

impl Mock {
    pub async fn start() -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(MockState::default());
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(state.clone(), req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Mock { addr, state }
    }

    /// `api_base` for configs: `http://127.0.0.1:PORT/v1`.
    pub fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues replies for the next requests (then `Echo`).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// Answers every unscripted request with `reply`.
    pub fn always(&self, reply: Reply) {
        *self.state.default.lock().unwrap() = Some(reply);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    pub fn cancelled(&self) -> usize {
        self.state.cancelled.load(Ordering::SeqCst)
    }
}

type MockBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

async fn answer(state: Arc<MockState>, req: Request<Incoming>) -> Result<Response<MockBody>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let call = Call {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        headers: parts.headers,
        body,
    };
    state.calls.lock().unwrap().push(call.clone());
    let scripted = state.script.lock().unwrap().pop_front();
    let reply = scripted
        .or_else(|| state.default.lock().unwrap().clone())
        .unwrap_or(Reply::Echo);
    respond(state, reply, &call).await
}

async fn respond(state: Arc<MockState>, reply: Reply, call: &Call) -> Result<Response<MockBody>, std::io::Error> {
    let mut reply = reply;
    loop {
        match reply {
            Reply::Delayed(wait, next) => {
                tokio::time::sleep(wait).await;
                reply = *next;
            }
            Reply::Hang => std::future::pending::<()>().await,
            Reply::Close => return Err(std::io::Error::other("scripted close")),
            Reply::Echo => {
                let request: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
                let model = request["model"].as_str().unwrap_or("?").to_string();
                if request["stream"] == json!(true) {
                    let events = ["Hello", " from", " the mock"]
                        .iter()
                        .map(|t| chunk(&model, t))
                        .collect();
                    reply = Reply::Sse(events, Duration::ZERO);
                    continue;
                }
                return Ok(json_reply(200, echo_completion(&model, &call.path)));
            }
            Reply::Json(status, value) => return Ok(json_reply(status, value)),
            Reply::RawSse(frames) => {
                let frames = frames.into_iter().map(|f| Ok(Frame::data(Bytes::from(f))));
                let body = StreamBody::new(futures::stream::iter(frames)).boxed();
                return Ok(Response::builder()
                    .status(200)
                    .header("content-type", "text/event-stream")
                    .body(body)
                    .unwrap());
            }
            Reply::Sse(events, gap) => return Ok(sse(state, events, gap, true, Duration::ZERO)),
            Reply::SseAfter(first, events) => return Ok(sse(state, events, Duration::ZERO, true, first)),
            Reply::SseBroken(events, gap) => return Ok(sse(state, events, gap, false, Duration::ZERO)),
        }
    }
}

/// An OpenAI chat completion chunk carrying `text`.
pub fn chunk(model: &str, text: &str) -> String {
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model,
           "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
    .to_string()
}

fn echo_completion(model: &str, path: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("echo via {path}")}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
        "output": [], "status": "completed", "created_at": 1
    })
}

fn json_reply(status: u16, value: Value) -> Response<MockBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-request-id", "mock")
        .header("connection", "keep-alive")
        .body(
            Full::new(Bytes::from(value.to_string()))
                .map_err(|never: Infallible| match never {})
                .boxed(),
        )
        .unwrap()
}

fn sse(state: Arc<MockState>, events: Vec<String>, gap: Duration, finish: bool, first: Duration) -> Response<MockBody> {
    type Item = Result<Frame<Bytes>, std::io::Error>;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Item>(1);
    tokio::spawn(async move {
        tokio::time::sleep(first).await;
        for (i, event) in events.iter().enumerate() {
            if i > 0 && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            if tx
                .send(Ok(Frame::data(Bytes::from(format!("data: {event}\n\n")))))
                .await
                .is_err()
            {
                state.cancelled.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
        if finish {
            let _ = tx.send(Ok(Frame::data(Bytes::from_static(b"data: [DONE]\n\n")))).await;
        } else {
            // The connection breaks mid-stream: the body ends with an error.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(Err(std::io::Error::other("scripted break"))).await;
        }
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .body(StreamBody::new(stream).boxed())
        .unwrap()
}

/// The real gateway, in this process, on 127.0.0.1:0.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<bool>,
}

impl TestGateway {
    pub async fn start(yaml: &str) -> TestGateway {
        Self::start_with_env(yaml, &[]).await
    }

    /// Starts with these environment variables visible to `os.environ/`.
    pub async fn start_with_env(yaml: &str, env: &[(&str, &str)]) -> TestGateway {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = move |name: &str| env.get(name).cloned();
        let loaded = tollgate::config::load_str(yaml, std::path::Path::new("."), &lookup)
            .unwrap_or_else(|problems| panic!("config should load: {problems:?}"));
        Self::serve(loaded.config).await
    }

    /// Serves as the binary does by default: thread-per-core, here on two
    /// cores (each a runtime on a thread of its own), whatever the machine.
    pub async fn serve(config: tollgate::config::Config) -> TestGateway {
        Self::serve_cores(config, 2).await
    }

    /// Thread-per-core on this many cores.
    pub async fn serve_cores(config: tollgate::config::Config, cores: usize) -> TestGateway {
        let listeners = tollgate::server::cores::Listeners::bind("127.0.0.1", 0, cores).unwrap();
        let addr = listeners.local_addr();
        let gateway = Arc::new(Gateway::new(config));
        let (tx, rx) = oneshot::channel::<()>();
        let served = tollgate::server::cores::serve(
            listeners,
            gateway.clone(),
            async move {
                let _ = rx.await;
            },
            Duration::from_secs(5),
            tollgate::server::Limits::default(),
        );
        let task = tokio::spawn(async move { served.await.unwrap() });
        TestGateway {
            addr,
            gateway,
            shutdown: Some(tx),
            task,
        }
    }

    /// Serves on the test's own runtime (one listener), for tests that
    /// need every gateway task under the test thread's tracing subscriber.
    pub async fn serve_here(config: tollgate::config::Config) -> TestGateway {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gateway = Arc::new(Gateway::new(config));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(tollgate::server::serve(
            listener,
            gateway.clone(),
            async move {
                let _ = rx.await;
            },
            Duration::from_secs(5),
        ));
        TestGateway {
            addr,
            gateway,
            shutdown: Some(tx),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Starts draining; resolves with whether every connection finished.
    pub async fn stop(mut self) -> bool {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.unwrap()
    }
}

/// A config with one `openai/` entry per (model_name, upstream model) on the mock.
pub fn config_for(mock: &Mock, entries: &[(&str, &str)], extra: &str) -> String {
    let mut yaml = String::from("model_list:\n");
    for (name, upstream) in entries {
        yaml.push_str(&format!(
            "  - model_name: {name}\n    litellm_params:\n      model: openai/{upstream}\n      api_base: {}\n      api_key: sk-upstream-{name}\n",
            mock.base()
        ));
    }
    yaml.push_str(extra);
    yaml
}

pub fn http_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// A finished raw response.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("JSON body, got {:?}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The OpenAI error `code`, asserting the error shape on the way.
    pub fn error_code(&self) -> String {
        let v = self.json();
        let e = &v["error"];
        assert!(
            e["message"].is_string() && e["type"].is_string(),
            "OpenAI error shape: {v}"
        );
        assert!(
            e.get("param").is_some() && e.get("code").is_some(),
            "param and code present: {v}"
        );
        e["code"].as_str().unwrap_or_default().to_string()
    }
}

pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Answer {
    let mut builder = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let response = http_client()
        .request(builder.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn post_json(url: &str, headers: &[(&str, &str)], body: Value) -> Answer {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send("POST", url, &all, body.to_string()).await
}

/// Streams a POST and returns each data frame with the time it arrived.
pub async fn stream_frames(url: &str, headers: &[(&str, &str)], body: Value) -> (StatusCode, Vec<(Instant, Bytes)>) {
    let mut builder = Request::builder()
        .method("POST")
        .uri(url)
        .header("content-type", "application/json");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let response = http_client()
        .request(builder.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let mut body = response.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    frames.push((Instant::now(), data));
                }
            }
            Err(_) => break,
        }
    }
    (status, frames)
}

/// The streamed frames joined as text.
pub fn frames_text(frames: &[(Instant, Bytes)]) -> String {
    frames.iter().map(|(_, b)| String::from_utf8_lossy(b)).collect()
}

/// A one-message chat request for async-openai.
pub fn chat_request(model: &str) -> async_openai::types::chat::CreateChatCompletionRequest {
    use async_openai::types::chat::{ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs};
    let message = ChatCompletionRequestUserMessageArgs::default()
        .content("hi")
        .build()
        .unwrap();
    CreateChatCompletionRequestArgs::default()
        .model(model)
        .messages([message.into()])
        .build()
        .unwrap()
}

/// async-openai needs a process-wide rustls provider even for plain HTTP.
pub fn openai_client(base: &str, key: &str) -> async_openai::Client<async_openai::config::OpenAIConfig> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = async_openai::config::OpenAIConfig::new()
        .with_api_base(base)
        .with_api_key(key);
    async_openai::Client::with_config(config)
}
