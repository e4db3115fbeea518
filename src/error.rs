//! The one error type of the request path and the one place it becomes an
//! OpenAI-style error response.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::body::{full, GatewayBody};
use crate::protocol::events::ErrorKind;
use crate::protocol::Format;

/// Response header on every error tollgate itself produced (its value is the
/// error `code`), so a client can tell the gateway's errors from a provider's.
/// Errors that come from the provider pass through without it.
pub const GATEWAY_ERROR_HEADER: &str = "x-tollgate-error";

/// How many characters of a client's model name the gateway repeats, in an
/// error message or in the access log's `model` field. A longer name is cut
/// there (on a character boundary) and ends with `…`: a name of megabytes
/// must not be copied into every answer and log line.
pub const MODEL_ECHO_CHARS: usize = 256;

/// `name` as the gateway repeats it: at most [`MODEL_ECHO_CHARS`]
/// characters, then `…` when it was longer.
pub fn echo_model(name: &str) -> String {
    match name.char_indices().nth(MODEL_ECHO_CHARS) {
        None => name.to_owned(),
        Some((cut, _)) => {
            let mut short = String::with_capacity(cut + '…'.len_utf8());
            short.push_str(name.get(..cut).unwrap_or_default());
            short.push('…');
            short
        }
    }
}

/// Everything that can go wrong while serving one request, before the
/// upstream's own response takes over.
#[derive(Debug)]
pub enum GatewayError {
    /// The body is not valid JSON, or not a JSON object.
    InvalidJson(String),
    /// The body has no `model`, or it is not a non-empty string.
    MissingModel,
    /// The body is JSON but not a valid request of its format (found while
    /// translating it): `field` names the part at fault.
    InvalidRequest { field: Option<String>, message: String },
    /// The deployment speaks a format this request's cannot be translated to.
    TranslationUnsupported {
        client: &'static str,
        upstream: &'static str,
    },
    /// The body carries a field that would let the caller steer the gateway
    /// (another host, key or header set).
    ForbiddenField(&'static str),
    /// The body is larger than `general_settings.max_request_size_mb`.
    BodyTooLarge { limit: usize },
    /// The client's body could not be read (it went away mid-upload).
    BodyRead,
    /// The client did not send its whole body within the body timeout.
    BodyTimeout { seconds: u64 },
    /// The bodies being read or held by other requests already take the
    /// whole buffer budget (`--body-budget-mb`).
    BodyBudget { budget: usize },
    /// Keys are configured and the request carries none.
    MissingKey,
    /// The presented key matches no configured key.
    InvalidKey,
    /// The caller's client key does not list this model.
    ModelNotAllowed { model: String },
    /// No `model_list` entry serves this model name.
    UnknownModel { model: String },
    /// No such route.
    NotFound { method: String, path: String },
    /// The route exists, with another method.
    MethodNotAllowed { allowed: &'static str },
    /// Every entry of the model names a provider tollgate does not speak yet.
    ProviderNotSupported { model: String, provider: &'static str },
    /// Every entry of the model loaded disabled because a value it needs
    /// cannot be used (`api_base` missing or not a URL, a variable unset):
    /// `reason` names the key and quotes no value.
    DeploymentDisabled {
        model: String,
        provider: &'static str,
        reason: std::sync::Arc<str>,
    },
    /// The deployment's provider cannot serve this endpoint.
    EndpointNotSupported {
        provider: &'static str,
        endpoint: &'static str,
    },
    /// The upstream could not be reached (refused, DNS, TLS, reset before a response).
    UpstreamUnreachable { model: String, cause: &'static str },
    /// The upstream sent no response head (or, for a stream, no first
    /// chunk) within the entry's `timeout` (`stream_timeout`).
    UpstreamTimeout { model: String, seconds: f64 },
    /// Every deployment of the group (and of its fallbacks) is cooling
    /// down or at its rpm/tpm limit.
    NoDeploymentAvailable { model: String, retry_after_secs: u64 },
    /// A `reject` budget covering the request is spent (`crate::budget`).
    BudgetExceeded {
        /// The budget's name (`gateway`, `client:automation`, ...).
        budget: std::sync::Arc<str>,
        /// Its limit, in the reporting currency.
        limit: f64,
        /// The reporting currency's ISO 4217 code.
        currency: std::sync::Arc<str>,
        /// When it resets (Unix seconds).
        resets_at: i64,
    },
}

impl GatewayError {
    /// HTTP status, OpenAI `type`, and `code` (also the bounded metric label).
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use GatewayError::*;
        const INVALID: &str = "invalid_request_error";
        match self {
            InvalidJson(_) => (StatusCode::BAD_REQUEST, INVALID, "invalid_json"),
            MissingModel => (StatusCode::BAD_REQUEST, INVALID, "missing_model"),
            InvalidRequest { .. } => (StatusCode::BAD_REQUEST, INVALID, "invalid_request"),
            TranslationUnsupported { .. } => (StatusCode::NOT_IMPLEMENTED, INVALID, "translation_not_supported"),
            ForbiddenField(_) => (StatusCode::BAD_REQUEST, INVALID, "forbidden_field"),
            BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, INVALID, "request_too_large"),
            BodyRead => (StatusCode::BAD_REQUEST, INVALID, "body_read_failed"),
            BodyTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, INVALID, "body_read_timeout"),
            BodyBudget { .. } => (StatusCode::SERVICE_UNAVAILABLE, "api_error", "gateway_busy"),
            MissingKey => (StatusCode::UNAUTHORIZED, INVALID, "missing_api_key"),
            InvalidKey => (StatusCode::UNAUTHORIZED, INVALID, "invalid_api_key"),
            ModelNotAllowed { .. } => (StatusCode::FORBIDDEN, "permission_error", "model_not_allowed"),
            UnknownModel { .. } => (StatusCode::NOT_FOUND, INVALID, "model_not_found"),
            NotFound { .. } => (StatusCode::NOT_FOUND, INVALID, "unknown_url"),
            MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, INVALID, "method_not_allowed"),
            EndpointNotSupported { .. } => (StatusCode::BAD_REQUEST, INVALID, "endpoint_not_supported"),
            ProviderNotSupported { .. } => (StatusCode::NOT_IMPLEMENTED, "api_error", "provider_not_supported"),
            DeploymentDisabled { .. } => (StatusCode::NOT_IMPLEMENTED, "api_error", "deployment_disabled"),
            UpstreamUnreachable { .. } => (StatusCode::BAD_GATEWAY, "api_error", "upstream_unreachable"),
            UpstreamTimeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "api_error", "upstream_timeout"),
            NoDeploymentAvailable { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "no_deployment_available",
            ),
            BudgetExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "budget_exceeded"),
        }
    }

    /// The bounded label for metrics and logs (`error.type`).
    pub fn code(&self) -> &'static str {
        self.parts().2
    }

    /// The `param` field: which request field is at fault, when one is.
    fn param(&self) -> Option<&str> {
        match self {
            GatewayError::InvalidRequest { field, .. } => field.as_deref(),
            GatewayError::MissingModel | GatewayError::ModelNotAllowed { .. } | GatewayError::UnknownModel { .. } => {
                Some("model")
            }
            GatewayError::ForbiddenField(field) => Some(field),
            _ => None,
        }
    }

    /// A sentence for the client. Never includes a key, a header value or
    /// an upstream URL (a configured `api_base` may carry credentials).
    fn message(&self) -> String {
        use GatewayError::*;
        match self {
            InvalidJson(why) => format!("The request body is not valid JSON: {why}."),
            MissingModel => "The request body needs a `model` field naming a configured model (a non-empty string).".into(),
            InvalidRequest { message, .. } => message.clone(),
            TranslationUnsupported { client, upstream } => format!(
                "This model's provider speaks the {upstream} format, and {client} requests cannot be translated to it."
            ),
            ForbiddenField(field) => format!(
                "The request body field `{field}` is not allowed: the gateway's configuration decides where requests go and with which credentials."
            ),
            BodyTooLarge { limit } => format!("The request body is larger than this gateway's limit of {limit} bytes."),
            BodyRead => "The request body could not be read.".into(),
            BodyTimeout { seconds } => format!("The request body did not arrive within {seconds} s."),
            BodyBudget { budget } => format!(
                "The gateway is holding as many request bodies as its memory budget ({budget} bytes) allows; retry shortly."
            ),
            MissingKey => "No API key provided. Send it as `Authorization: Bearer <key>` or `x-api-key: <key>`.".into(),
            InvalidKey => "Incorrect API key provided.".into(),
            ModelNotAllowed { model } => format!("This key may not use the model `{model}`. GET /v1/models lists the models it may use."),
            UnknownModel { model } => format!(
                "The model `{model}` does not exist on this gateway. GET /v1/models lists the models your key may use."
            ),
            NotFound { method, path } => format!("Invalid URL ({method} {path})."),
            MethodNotAllowed { allowed } => format!("Method not allowed here; use {allowed}."),
            ProviderNotSupported { model, provider } => format!(
                "The model `{model}` is configured with provider `{provider}`, which this gateway does not support yet."
            ),
            DeploymentDisabled { model, provider, reason } => format!(
                "The model `{model}` (provider `{provider}`) cannot be served: its configuration entry is disabled ({reason})."
            ),
            EndpointNotSupported { provider, endpoint } => {
                format!("The provider `{provider}` behind this model does not serve {endpoint}.")
            }
            UpstreamUnreachable { model, cause } => {
                format!("The provider behind model `{model}` could not be reached ({cause}).")
            }
            UpstreamTimeout { model, seconds } => {
                format!("The provider behind model `{model}` did not answer within {seconds} s.")
            }
            NoDeploymentAvailable { model, retry_after_secs } => format!(
                "Every deployment serving `{model}` is cooling down after failures or at its rate limit; retry in {retry_after_secs} s."
            ),
            BudgetExceeded {
                budget,
                limit,
                currency,
                resets_at,
            } => {
                let at = jiff::Timestamp::from_second(*resets_at).map_or_else(|_| resets_at.to_string(), |t| t.to_string());
                format!("The budget `{budget}` ({limit} {currency} per period) is spent; it resets at {at}.")
            }
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    /// The OpenAI-shaped response, marked as made by the gateway.
    pub fn into_response(self) -> Response<GatewayBody> {
        self.into_response_as(Format::Chat)
    }

    /// The response in the client's own error shape: Anthropic's for
    /// Messages clients, OpenAI's for everyone else.
    pub fn into_response_as(self, format: Format) -> Response<GatewayBody> {
        let (status, kind, code) = self.parts();
        let body = match format {
            Format::Anthropic => json!({
                "type": "error",
                "error": {"type": ErrorKind::from_status(status.as_u16()).anthropic_type(), "message": self.message()},
            }),
            Format::Chat | Format::Responses => json!({
                "error": {
                    "message": self.message(),
                    "type": kind,
                    "param": self.param(),
                    "code": code,
                }
            }),
        };
        let mut response = Response::new(full(Bytes::from(body.to_string())));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(GATEWAY_ERROR_HEADER, HeaderValue::from_static(code));
        match self {
            GatewayError::MethodNotAllowed { allowed } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allowed));
            }
            GatewayError::NoDeploymentAvailable { retry_after_secs, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            GatewayError::BudgetExceeded { resets_at, .. } => {
                let wait = resets_at.saturating_sub(jiff::Timestamp::now().as_second()).max(1);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
            }
            // Bodies are read in seconds at most: a retry a second later finds room.
            GatewayError::BodyBudget { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_model_names_are_cut_on_a_char_boundary() {
        assert_eq!(echo_model("gpt-4o"), "gpt-4o");
        let exact = "é".repeat(MODEL_ECHO_CHARS);
        assert_eq!(echo_model(&exact), exact);
        let long = "é".repeat(MODEL_ECHO_CHARS + 1);
        let cut = echo_model(&long);
        assert_eq!(cut.chars().count(), MODEL_ECHO_CHARS + 1);
        assert!(cut.ends_with("é…"));
    }
}
