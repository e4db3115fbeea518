//! Scripted loopback upstreams in the three wire formats the clients need: the
//! first turn asks for one tool call, the turn that carries the tool's output
//! gets a text quoting it, and every request is recorded.

mod anthropic;
mod chat;
mod responses;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::sandbox::Outcome;

/// The API an upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI chat completions only, like Kimi's, Ollama's or vLLM's endpoints.
    Chat,
    /// Anthropic's Messages API.
    Anthropic,
    /// OpenAI's Responses API.
    Responses,
}

impl Wire {
    /// The path this format is served on; every other path gets the plain-text
    /// 404 that chat-only servers answer.
    fn suffix(self) -> &'static str {
        match self {
            Wire::Chat => "/chat/completions",
            Wire::Anthropic => "/messages",
            Wire::Responses => "/responses",
        }
    }

    /// The call id and text of the last tool result the request carries, if any.
    fn tool_result(self, request: &Value) -> Option<(String, String)> {
        match self {
            Wire::Chat => chat::tool_result(request),
            Wire::Anthropic => anthropic::tool_result(request),
            Wire::Responses => responses::tool_result(request),
        }
    }

    /// The id of the `n`th answer's tool call, in this format's usual shape:
    /// Kimi's `functions.<name>:<n>` on chat (not a valid Anthropic id, so a
    /// translator must map it there and back), `toolu_…` on Anthropic.
    fn call_id(self, tool: &str, n: usize) -> String {
        match self {
            Wire::Chat => format!("functions.{tool}:{n}"),
            Wire::Anthropic => format!("toolu_mock{n}"),
            Wire::Responses => format!("call_mock{n}"),
        }
    }

    /// Whether the request offers a tool of this name.
    fn offers(self, request: &Value, tool: &str) -> bool {
        match self {
            Wire::Chat => chat::offers(request, tool),
            Wire::Anthropic => anthropic::offers(request, tool),
            Wire::Responses => responses::offers(request, tool),
        }
    }

    /// The answer to one turn: SSE frames when the request streams, else JSON.
    fn answer(self, request: &Value, turn: &Turn, n: usize) -> Body {
        let model = request["model"].as_str().unwrap_or("mock");
        let streamed = request["stream"] == Value::Bool(true);
        match (self, streamed) {
            (Wire::Chat, true) => Body::Sse(chat::stream(request, turn, model, n)),
            (Wire::Chat, false) => Body::Json(chat::whole(turn, model, n)),
            (Wire::Anthropic, true) => Body::Sse(anthropic::stream(turn, model, n)),
            (Wire::Anthropic, false) => Body::Json(anthropic::whole(turn, model, n)),
            (Wire::Responses, true) => Body::Sse(responses::stream(turn, model, n)),
            (Wire::Responses, false) => Body::Json(responses::whole(turn, model, n)),
        }
    }
}

/// The tool call the first turn asks for.
#[derive(Debug, Clone)]
pub struct ToolCall {
    pub name: &'static str,
    pub arguments: Value,
}

/// What one answer holds.
pub enum Turn {
    /// The call and its id.
    Call(ToolCall, String),
    Text(String),
}

/// How the final answer opens; the tool's output follows it.
pub const ANSWER: &str = "The tool returned: ";

enum Body {
    Sse(Vec<String>),
    Json(Value),
}

/// One request the upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct State {
    wire: Wire,
    tool: ToolCall,
    calls: Mutex<Vec<Recorded>>,
    turns: AtomicUsize,
    /// The id of the last tool call answered.
    issued: Mutex<Option<String>>,
}

/// A scripted upstream on 127.0.0.1.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl Upstream {
    pub async fn start(wire: Wire, tool: ToolCall) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            wire,
            tool,
            calls: Mutex::new(Vec::new()),
            turns: AtomicUsize::new(0),
            issued: Mutex::new(None),
        });
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(state.clone(), req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream { addr, state }
    }

    /// `http://127.0.0.1:PORT`, no path.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self) -> Vec<Recorded> {
        self.state.calls.lock().unwrap().clone()
    }

    /// The agent's turns: POSTs on this format's path that offer the tool
    /// (background work such as a session title offers none).
    pub fn turns(&self) -> Vec<Recorded> {
        let (wire, tool) = (self.state.wire, self.state.tool.name);
        self.calls()
            .into_iter()
            .filter(|c| c.method == "POST" && path(&c.target).ends_with(wire.suffix()))
            .filter(|c| wire.offers(&c.json(), tool))
            .collect()
    }

    /// Every request in one line each, for failure messages.
    pub fn summary(&self) -> String {
        let lines: Vec<String> = self
            .calls()
            .iter()
            .map(|c| {
                let body = String::from_utf8_lossy(&c.body);
                let head: String = body.chars().take(160).collect();
                format!("  {} {} ({} bytes) {head}", c.method, c.target, c.body.len())
            })
            .collect();
        if lines.is_empty() {
            "  (no request reached it)".to_string()
        } else {
            lines.join("\n")
        }
    }

    /// The gateway's own key never went upstream, in any header or body.
    pub fn assert_never_saw(&self, key: &str) {
        for call in self.calls() {
            let leaked = call
                .headers
                .iter()
                .find(|(_, v)| v.to_str().is_ok_and(|v| v.contains(key)));
            assert!(
                leaked.is_none(),
                "the client's key went upstream in {leaked:?} of {}",
                call.target
            );
            let body = String::from_utf8_lossy(&call.body);
            assert!(
                !body.contains(key),
                "the client's key went upstream in the body of {}",
                call.target
            );
        }
    }

    /// The client finished one tool round trip through this upstream: two
    /// streamed turns offering the tool (a silent non-streaming retry would
    /// add one), the second carrying the tool's output under the call id this
    /// upstream issued, and the client printing the answer that quotes it.
    pub fn assert_round_trip(&self, outcome: &Outcome, secret: &str) {
        let wire = self.state.wire;
        let context = || format!("{outcome}\nthe {wire:?} upstream received:\n{}", self.summary());
        assert!(outcome.status.success(), "the client failed\n{}", context());
        let turns = self.turns();
        assert_eq!(
            turns.len(),
            2,
            "one tool call and one answer, both streamed\n{}",
            context()
        );
        let (first, second) = (turns[0].json(), turns[1].json());
        assert!(
            turns.iter().all(|t| t.json()["stream"] == Value::Bool(true)),
            "every turn streamed\n{}",
            context()
        );
        assert_eq!(wire.tool_result(&first), None, "no tool output yet\n{}", context());
        let (id, output) = wire.tool_result(&second).unwrap_or_default();
        assert!(
            output.contains(secret),
            "the follow-up carries the tool's output ({secret}), got {output:?}\n{}",
            context()
        );
        let issued = self.state.issued.lock().unwrap().clone();
        assert_eq!(
            Some(id),
            issued,
            "the tool result answers the call id this upstream issued\n{}",
            context()
        );
        assert!(
            outcome.answer.contains(ANSWER) && outcome.answer.contains(secret),
            "the client printed the final answer quoting {secret}\n{}",
            context()
        );
    }
}

fn path(target: &str) -> &str {
    target.split('?').next().unwrap_or(target)
}

type MockBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn answer(state: Arc<State>, req: Request<Incoming>) -> Result<Response<MockBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let call = Recorded {
        method: parts.method.to_string(),
        target: parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
        headers: parts.headers,
        body,
    };
    state.calls.lock().unwrap().push(call.clone());
    let wire = state.wire;
    if call.method != "POST" || !path(&call.target).ends_with(wire.suffix()) {
        return Ok(reply(404, "text/plain", Bytes::from_static(b"404 page not found")));
    }
    let request = call.json();
    let n = state.turns.fetch_add(1, Ordering::SeqCst) + 1;
    let turn = match wire.tool_result(&request) {
        Some((_, output)) => Turn::Text(format!("{ANSWER}{output}")),
        None if wire.offers(&request, state.tool.name) => {
            let id = wire.call_id(state.tool.name, n);
            *state.issued.lock().unwrap() = Some(id.clone());
            Turn::Call(state.tool.clone(), id)
        }
        // Background work (titles, summaries) offers no tools.
        None => Turn::Text("Nothing to do.".to_string()),
    };
    Ok(match wire.answer(&request, &turn, n) {
        Body::Json(value) => reply(200, "application/json", Bytes::from(value.to_string())),
        Body::Sse(frames) => {
            let frames = frames
                .into_iter()
                .map(|f| Ok::<_, Infallible>(Frame::data(Bytes::from(f))));
            Response::builder()
                .status(200)
                .header("content-type", "text/event-stream")
                .body(StreamBody::new(futures::stream::iter(frames)).boxed())
                .unwrap()
        }
    })
}

fn reply(status: u16, content_type: &str, body: Bytes) -> Response<MockBody> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body).boxed())
        .unwrap()
}

/// `text` cut in three pieces at character boundaries, as providers split
/// tool arguments and text across chunks.
fn pieces(text: &str) -> Vec<&str> {
    let cuts: Vec<usize> = [text.len() / 3, text.len() * 2 / 3]
        .into_iter()
        .map(|mut at| {
            while !text.is_char_boundary(at) {
                at += 1;
            }
            at
        })
        .collect();
    vec![&text[..cuts[0]], &text[cuts[0]..cuts[1]], &text[cuts[1]..]]
}

/// The text of a tool result's content: a string, or the text parts of an array.
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(parts.iter().filter_map(|p| p["text"].as_str()).collect()),
        _ => None,
    }
}
