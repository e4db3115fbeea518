//! Error bodies in each client format, and an upstream's error body of one
//! format restated in another with its status and meaning kept.

use serde_json::{json, Value};

use super::events::{ErrorKind, StreamError};

impl ErrorKind {
    /// The kind an HTTP status stands for.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 413 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimit,
            503 | 529 => ErrorKind::Overloaded,
            _ => ErrorKind::Api,
        }
    }

    /// The kind an error `type` or `code` string of either format names;
    /// `None` when the string says nothing the status does not.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "invalid_request_error" | "request_too_large" => ErrorKind::InvalidRequest,
            "authentication_error" | "invalid_api_key" => ErrorKind::Authentication,
            "permission_error" | "billing_error" => ErrorKind::Permission,
            "not_found_error" | "model_not_found" => ErrorKind::NotFound,
            "rate_limit_error" | "rate_limit_exceeded" | "insufficient_quota" => ErrorKind::RateLimit,
            "context_length_exceeded" => ErrorKind::ContextLength,
            "overloaded_error" | "overloaded" => ErrorKind::Overloaded,
            "timeout_error" | "timeout" => ErrorKind::Timeout,
            "api_error" | "server_error" => ErrorKind::Api,
            _ => return None,
        })
    }

    /// The HTTP status a gateway-made error of this kind answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::ContextLength => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::Permission => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::RateLimit => 429,
            ErrorKind::Overloaded => 529,
            ErrorKind::Timeout => 504,
            ErrorKind::Api => 500,
        }
    }

    /// Anthropic's `error.type` for this kind.
    pub fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::ContextLength => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Overloaded => "overloaded_error",
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::Api => "api_error",
        }
    }

    /// OpenAI's `error.type` and `error.code` for this kind.
    pub fn openai_type_code(self) -> (&'static str, &'static str) {
        match self {
            ErrorKind::InvalidRequest => ("invalid_request_error", "invalid_request"),
            ErrorKind::ContextLength => ("invalid_request_error", "context_length_exceeded"),
            ErrorKind::Authentication => ("authentication_error", "invalid_api_key"),
            ErrorKind::Permission => ("permission_error", "permission_denied"),
            ErrorKind::NotFound => ("invalid_request_error", "not_found"),
            ErrorKind::RateLimit => ("rate_limit_error", "rate_limit_exceeded"),
            ErrorKind::Overloaded => ("server_error", "overloaded"),
            ErrorKind::Timeout => ("timeout", "timeout"),
            ErrorKind::Api => ("server_error", "server_error"),
        }
    }
}

/// Anthropic's error object: `{"type":"error","error":{"type","message"}}`;
/// a 413 is its own type there.
pub fn anthropic_error(kind: ErrorKind, message: &str, status: u16) -> Value {
    let kind = if status == 413 {
        "request_too_large"
    } else {
        kind.anthropic_type()
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// OpenAI's error object: `{"error":{"message","type","param","code"}}`.
pub fn openai_error(kind: ErrorKind, message: &str, code: Option<&str>) -> Value {
    let (kind_type, default_code) = kind.openai_type_code();
    json!({"error": {
        "message": message,
        "type": kind_type,
        "param": null,
        "code": code.unwrap_or(default_code),
    }})
}

/// What an upstream error body says, whatever its format: the kind (from
/// its `type`/`code`, else the status), the message, and OpenAI's `code`
/// when it had a meaningful one (Codex acts on some of them).
pub fn read_error(status: u16, body: &[u8]) -> (StreamError, Option<String>) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = value.get("error").unwrap_or(&value);
    let text = |key: &str| error.get(key).and_then(Value::as_str);
    let code = text("code").map(str::to_owned);
    // OpenRouter states the provider's HTTP status as a numeric `code`
    // inside a 200 stream: it says more than the 200 does.
    let status = match error.get("code").and_then(Value::as_u64) {
        Some(code @ 400..=599) if status < 400 || status == 500 => u16::try_from(code).unwrap_or(status),
        _ => status,
    };
    // A specific `code` wins over a `type`, and either over the status; a
    // generic server-error name says nothing the status does not.
    let named = code
        .as_deref()
        .and_then(ErrorKind::from_name)
        .filter(|kind| *kind != ErrorKind::Api)
        .or_else(|| text("type").and_then(ErrorKind::from_name))
        .filter(|kind| *kind != ErrorKind::Api);
    let kind = named.unwrap_or_else(|| ErrorKind::from_status(status));
    let message = match text("message") {
        Some(message) => message.to_owned(),
        None if value.is_null() => String::from_utf8_lossy(body.get(..512).unwrap_or(body))
            .trim()
            .to_owned(),
        None => error.to_string(),
    };
    let message = if message.is_empty() {
        format!("The upstream answered {status}.")
    } else {
        message
    };
    (StreamError::new(kind, message), code)
}
