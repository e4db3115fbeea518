//! OpenAI's wire format: the shapes tollgate itself produces (model lists and
//! `mock_response` answers). Requests and upstream answers pass through as bytes.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{json, Value};

use super::Endpoint;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `GET /v1/models`: OpenAI's list shape, each model also carrying its
/// deployments' provider and the client formats each serves (and how).
pub fn model_list<'a>(names: impl Iterator<Item = &'a str>, config: &crate::config::Config) -> Bytes {
    let data: Vec<Value> = names
        .map(|id| {
            let deployments: Vec<Value> = config
                .resolve(id)
                .map(|r| r.deployments)
                .unwrap_or_default()
                .iter()
                .map(|d| json!({"provider": d.provider.name, "formats": d.formats_summary()}))
                .collect();
            json!({"id": id, "object": "model", "created": 0, "owned_by": "tollgate", "deployments": deployments})
        })
        .collect();
    Bytes::from(json!({"object": "list", "data": data}).to_string())
}

/// Token counts for a mock answer: one per whitespace-separated word, so
/// usage is plausible and deterministic.
fn words(text: &str) -> u64 {
    text.split_whitespace().count().max(1) as u64
}

/// A complete (non-streamed) mock answer in the endpoint's shape.
pub fn mock_body(endpoint: Endpoint, model: &str, text: &str) -> Bytes {
    let created = now();
    let out = words(text);
    let usage = json!({"prompt_tokens": 1, "completion_tokens": out, "total_tokens": 1 + out});
    let body = match endpoint {
        // Other formats' clients get this translated, as from any chat upstream.
        Endpoint::ChatCompletions | Endpoint::Messages | Endpoint::CountTokens => json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": null}],
            "usage": usage,
        }),
        Endpoint::Completions => json!({
            "id": "cmpl-mock", "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": null}],
            "usage": usage,
        }),
        Endpoint::Embeddings => json!({
            "object": "list", "model": model,
            "data": [{"object": "embedding", "index": 0, "embedding": [0.0, 0.5, 1.0]}],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }),
        Endpoint::Responses => json!({
            "id": "resp-mock", "object": "response", "created_at": created, "model": model, "status": "completed",
            "output": [{"type": "message", "id": "msg-mock", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": text, "annotations": []}]}],
            "usage": {"input_tokens": 1, "output_tokens": out, "total_tokens": 1 + out},
        }),
    };
    Bytes::from(body.to_string())
}

/// A streamed mock answer (chat or text completion): one SSE event per word,
/// a final event with `finish_reason`, then `[DONE]`.
pub fn mock_stream(endpoint: Endpoint, model: &str, text: &str) -> Vec<Bytes> {
    let created = now();
    let chunk = |piece: Option<&str>, finish: Value| {
        let event = match endpoint {
            Endpoint::Completions => json!({
                "id": "cmpl-mock", "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": 0, "text": piece.unwrap_or(""), "finish_reason": finish, "logprobs": null}],
            }),
            _ => json!({
                "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": piece.map_or(json!({}), |p| json!({"content": p})), "finish_reason": finish}],
            }),
        };
        Bytes::from(format!("data: {event}\n\n"))
    };
    let mut events: Vec<Bytes> = text
        .split_inclusive(' ')
        .map(|word| chunk(Some(word), Value::Null))
        .collect();
    events.push(chunk(None, json!("stop")));
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

/// Whether a mock for this endpoint can stream (the others answer whole).
pub fn mock_streams(endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::ChatCompletions | Endpoint::Completions)
}
