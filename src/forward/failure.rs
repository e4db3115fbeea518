//! A failed attempt: what the provider's error says about the request and
//! the deployment, read (bounded) and cleaned of secrets before it can be
//! passed through.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::config::routing::ErrorClass;
use crate::config::Config;
use crate::router::Health;
use crate::upstream::redact;

/// The largest upstream error body read to classify it.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Why an attempt failed.
pub(super) enum Failure {
    /// The provider answered with an error (passed through if it is the last word).
    Status {
        class: ErrorClass,
        retry_after: Option<Duration>,
        response: Response<Bytes>,
    },
    Unreachable(&'static str),
    Timeout(Duration),
    /// The deployment's provider has no such endpoint (embeddings from an
    /// Anthropic model): another deployment of the group may.
    Unsupported {
        provider: &'static str,
        endpoint: &'static str,
    },
    /// The client's request is at fault (it cannot be translated): answered
    /// at once, with no retry and no mark against the deployment.
    Client(crate::error::GatewayError),
}

impl Failure {
    /// What the failure says about the deployment (see `router::Health`).
    pub(super) fn health(&self) -> Health {
        match self {
            Failure::Status { response, .. } => match response.status().as_u16() {
                401 | 429 => Health::Down,
                403 | 408 | 500..=599 => Health::Failing,
                _ => Health::Unaffected,
            },
            Failure::Unreachable(_) | Failure::Timeout(_) => Health::Failing,
            Failure::Unsupported { .. } | Failure::Client(_) => Health::Unaffected,
        }
    }

    pub(super) fn class(&self) -> ErrorClass {
        match self {
            Failure::Status { class, .. } => *class,
            Failure::Unreachable(_) => ErrorClass::InternalServer,
            Failure::Timeout(_) => ErrorClass::Timeout,
            Failure::Unsupported { .. } | Failure::Client(_) => ErrorClass::BadRequest,
        }
    }
}

/// Reads a failed response's body (bounded), classifies it, and takes
/// every configured secret out of it and its headers: a provider may echo
/// the key it was sent, and this answer may go to the client as it is.
pub(super) async fn failure(
    mut head: http::response::Parts,
    body: Incoming,
    deadline: Instant,
    config: &Config,
) -> Failure {
    let bytes = match tokio::time::timeout_at(deadline, Limited::new(body, ERROR_BODY_LIMIT).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        _ => Bytes::new(),
    };
    let secrets = redact::Secrets::of_all(&config.deployments);
    let bytes = if encoded(&head.headers) {
        // Compressed bytes cannot be searched for a key: the body is withheld,
        // and the answer is marked as the gateway's (the status stays the provider's).
        head.headers.remove(http::header::CONTENT_ENCODING);
        head.headers
            .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let code = HeaderValue::from_static("upstream_error_withheld");
        head.headers.insert(crate::error::GATEWAY_ERROR_HEADER, code);
        Bytes::from_static(WITHHELD_BODY.as_bytes())
    } else {
        secrets.body(bytes)
    };
    secrets.headers(&mut head.headers);
    let class = classify(head.status, &bytes);
    let retry_after = retry_after(&head.headers);
    // The body is whole now: its length is known again.
    head.headers.remove(http::header::TRANSFER_ENCODING);
    head.headers
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Failure::Status {
        class,
        retry_after,
        response: Response::from_parts(head, bytes),
    }
}

/// Whether a body carries a content coding other than `identity`.
fn encoded(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .any(|v| !v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"identity"))
}

/// The body of a provider error whose compressed body was withheld.
const WITHHELD_BODY: &str = r#"{"error":{"message":"The provider answered with a compressed error body, which the gateway withholds because it cannot check it for secrets.","type":"api_error","param":null,"code":"upstream_error_withheld"}}"#;

/// LiteLLM's error classes from an upstream status and error body.
fn classify(status: StatusCode, body: &[u8]) -> ErrorClass {
    let text = String::from_utf8_lossy(body.get(..4096).unwrap_or(body)).to_ascii_lowercase();
    let context = [
        "context_length_exceeded",
        "maximum context length",
        "context window",
        "prompt is too long",
        "too many tokens",
    ];
    let policy = [
        "content_policy_violation",
        "content_filter",
        "content management policy",
        "responsibleaipolicyviolation",
    ];
    match status.as_u16() {
        401 | 403 => ErrorClass::Authentication,
        404 => ErrorClass::NotFound,
        408 => ErrorClass::Timeout,
        429 => ErrorClass::RateLimit,
        400 | 413 | 422 if context.iter().any(|k| text.contains(k)) => ErrorClass::ContextWindow,
        400 | 422 if policy.iter().any(|k| text.contains(k)) => ErrorClass::ContentPolicy,
        500..=599 => ErrorClass::InternalServer,
        _ => ErrorClass::BadRequest,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by LLM providers).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Failure {
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = StatusCode::from_u16(code).unwrap();
        Failure::Status {
            class: classify(response.status(), b""),
            retry_after: None,
            response,
        }
    }

    #[test]
    fn only_failures_that_say_the_deployment_is_unhealthy_count() {
        for (code, health) in [
            (429, Health::Down),
            (401, Health::Down),
            (403, Health::Failing),
            (408, Health::Failing),
            (500, Health::Failing),
            (503, Health::Failing),
            (400, Health::Unaffected),
            (404, Health::Unaffected),
            (413, Health::Unaffected),
            (422, Health::Unaffected),
        ] {
            assert_eq!(status(code).health(), health, "{code}");
        }
        assert_eq!(Failure::Unreachable("connection failed").health(), Health::Failing);
        assert_eq!(Failure::Timeout(Duration::from_secs(1)).health(), Health::Failing);
    }
}
