//! The YAML as written: LiteLLM's `proxy_config.yaml` shapes plus tollgate's own
//! `tollgate:` section. Every field's doc comment is user documentation.
//!
//! Strings that may hold a secret or an environment reference are kept raw
//! here and resolved in `resolve.rs`; nothing in this file is trusted yet.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// One entry of `model_list`: a deployment that clients reach by `model_name`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// The name clients send as `model`. Several entries with the same name
    /// form a group that shares the traffic.
    pub model_name: String,
    /// How to reach the deployment.
    pub litellm_params: LitellmParams,
    /// LiteLLM's free-form metadata. tollgate reads `base_model` (whose
    /// bundled prices this entry borrows); the rest is accepted as is.
    #[serde(default)]
    pub model_info: Option<serde_json::Map<String, Value>>,
}

/// `litellm_params` of a `model_list` entry (the subset tollgate implements;
/// LiteLLM's other keys are accepted with a warning before this is parsed).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LitellmParams {
    /// `provider/upstream-model`, e.g. `openai/gpt-4o-mini`. Everything after
    /// the first `/` is sent upstream as the model name, slashes included.
    pub model: String,
    /// Base URL of the provider's OpenAI-compatible API, e.g.
    /// `https://openrouter.ai/api/v1`. Defaults to the provider's own.
    /// Azure: the resource (`https://NAME.openai.azure.com`, default
    /// `AZURE_API_BASE`; a portal URL with path and `?api-version=` works too).
    /// Azure AI Foundry: required (or `AZURE_AI_API_BASE`). Ollama: the server
    /// (default `OLLAMA_API_BASE`, else `http://localhost:11434`), `/v1` added.
    #[serde(default)]
    pub api_base: Option<String>,
    /// The provider key, sent as `Authorization: Bearer <key>` (Anthropic:
    /// `x-api-key`; Azure: `api-key`, default `AZURE_OPENAI_API_KEY` or
    /// `AZURE_API_KEY`; Foundry: default `AZURE_AI_API_KEY`). Usually
    /// `os.environ/NAME` or `file:/path/to/secret` (a regular file of at most
    /// 64 KiB; devices and FIFOs are refused).
    #[serde(default)]
    pub api_key: Option<String>,
    /// Headers added to every upstream request of this entry.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, Value>>,
    /// LiteLLM's other spelling of `headers`; both may be given (merged).
    #[serde(default)]
    pub extra_headers: Option<BTreeMap<String, Value>>,
    /// Seconds to wait for the provider's response head (number or numeric
    /// string; 0.001 to 2592000, i.e. 30 days, like every duration in this
    /// file). Default: `litellm_settings.request_timeout`, else 600.
    #[serde(default)]
    pub timeout: Option<Value>,
    /// Answer with this text without calling any provider (LiteLLM's mock).
    #[serde(default)]
    pub mock_response: Option<String>,
    /// `true`: the server behind an `openai/` entry serves chat completions
    /// only, so Responses requests are translated to chat (LiteLLM's key;
    /// the default for any `api_base` other than OpenAI's own). `false`: it
    /// serves `/responses` itself, so they pass through.
    #[serde(default)]
    pub use_chat_completions_api: Option<bool>,
    /// Seconds (0.001 to 30 days) to the first streamed chunk (default: `stream_timeout` of
    /// `router_settings`, else the entry's `timeout`).
    #[serde(default)]
    pub stream_timeout: Option<Value>,
    /// Requests per minute this deployment takes (at most 10^12); also its share under `simple-shuffle`.
    #[serde(default)]
    pub rpm: Option<u64>,
    /// Tokens per minute this deployment takes (at most 10^12).
    #[serde(default)]
    pub tpm: Option<u64>,
    /// Share of the group's traffic under `simple-shuffle` (above 0, at most 10^6).
    #[serde(default)]
    pub weight: Option<f64>,
    /// Priority tier (0 to 10^6): the lowest `order` with a healthy deployment serves.
    #[serde(default)]
    pub order: Option<u32>,
    /// Azure: the `api-version` query parameter (default: `AZURE_API_VERSION`,
    /// else `2025-02-01-preview`, LiteLLM's). `v1`, `preview` or `latest`
    /// select the `/openai/v1/` scheme. Azure AI Foundry: sent when given.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Azure: a static Entra ID token, sent as `Authorization: Bearer` when
    /// the entry has no `api_key` (default: `AZURE_AD_TOKEN`).
    #[serde(default)]
    pub azure_ad_token: Option<String>,
    /// Azure: the Entra ID tenant of a service principal; with `client_id`
    /// and `client_secret`, tokens are fetched and refreshed before they
    /// expire (defaults: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Azure: the service principal's application (client) id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Azure: the service principal's secret; `os.environ/NAME` recommended.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Azure: where Entra ID tokens are asked for (default:
    /// `AZURE_AUTHORITY_HOST`, else `https://login.microsoftonline.com`).
    #[serde(default)]
    pub azure_authority_host: Option<String>,
    /// Azure: the scope tokens are asked for (default
    /// `https://cognitiveservices.azure.com/.default`).
    #[serde(default)]
    pub azure_scope: Option<String>,
    /// USD per input token, overriding the bundled price. Every price is 0 to 1:
    /// more is a price per thousand or million tokens in the wrong key.
    #[serde(default)]
    pub input_cost_per_token: Option<f64>,
    /// USD per output token, overriding the bundled price.
    #[serde(default)]
    pub output_cost_per_token: Option<f64>,
    /// USD per cached input token read.
    #[serde(default)]
    pub cache_read_input_token_cost: Option<f64>,
    /// USD per input token written to the provider's cache.
    #[serde(default)]
    pub cache_creation_input_token_cost: Option<f64>,
    /// USD per reasoning token (else billed as output).
    #[serde(default)]
    pub output_cost_per_reasoning_token: Option<f64>,
}

/// `general_settings` (implemented subset).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneralSettings {
    /// The admin key: may call every model. `os.environ/NAME` recommended.
    #[serde(default)]
    pub master_key: Option<String>,
    /// Largest request body accepted, in MiB (default 32, above 0, at most 1024).
    #[serde(default)]
    pub max_request_size_mb: Option<f64>,
}

/// Routing keys, as LiteLLM reads them from `router_settings` and (for most
/// of them) from `litellm_settings`; where both set one, `router_settings` wins.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingEntry {
    /// `simple-shuffle` (default), `least-busy` or `latency-based-routing`.
    #[serde(default)]
    pub routing_strategy: Option<String>,
    /// Retries of a failed request within its model group (default 0, at most 100).
    #[serde(default)]
    pub num_retries: Option<u32>,
    /// Retries per error class, overriding `num_retries`: keys
    /// `AuthenticationErrorRetries`, `TimeoutErrorRetries`,
    /// `RateLimitErrorRetries`, `ContentPolicyViolationErrorRetries`,
    /// `InternalServerErrorRetries`, `BadRequestErrorRetries` (each at most 100).
    #[serde(default)]
    pub retry_policy: Option<BTreeMap<String, u32>>,
    /// `[{group: [fallback, ...]}]`: where a failed request goes next.
    #[serde(default)]
    pub fallbacks: Option<Vec<BTreeMap<String, Vec<String>>>>,
    /// Like `fallbacks`, for context-length errors (no retry of the same model).
    #[serde(default)]
    pub context_window_fallbacks: Option<Vec<BTreeMap<String, Vec<String>>>>,
    /// Like `fallbacks`, for content-policy refusals.
    #[serde(default)]
    pub content_policy_fallbacks: Option<Vec<BTreeMap<String, Vec<String>>>>,
    /// Fallbacks for every group that names none of its own.
    #[serde(default)]
    pub default_fallbacks: Option<Vec<String>>,
    /// The most fallback groups one request tries (default 5, at most 100).
    #[serde(default)]
    pub max_fallbacks: Option<u32>,
    /// Failures a deployment may have within a minute before it cools down
    /// (default 3, at most 10^6).
    #[serde(default)]
    pub allowed_fails: Option<u32>,
    /// Seconds a failing deployment is skipped (default 5; 0.001 to 30 days).
    #[serde(default)]
    pub cooldown_time: Option<Value>,
    /// Whole-request timeout in seconds for entries that set none (default 600).
    #[serde(default)]
    pub timeout: Option<Value>,
    /// `litellm_settings`' name for `timeout`.
    #[serde(default)]
    pub request_timeout: Option<Value>,
    /// Seconds to the first streamed chunk, for entries that set none.
    #[serde(default)]
    pub stream_timeout: Option<Value>,
    /// `{alias: group}` or `{alias: {model: group, hidden: bool}}`.
    #[serde(default)]
    pub model_group_alias: Option<BTreeMap<String, Value>>,
}

/// tollgate's own section. LiteLLM ignores it, so one file serves both.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TollgateSettings {
    /// Per-client keys, checked without any database.
    #[serde(default)]
    pub clients: Vec<ClientEntry>,
    /// Longest silence allowed between two chunks of a stream, in seconds
    /// (default 300; 0.001 to 30 days), so a stalled provider cannot hold a client forever.
    #[serde(default)]
    pub stream_idle_timeout: Option<Value>,
    /// Serve without any key even when listening beyond loopback. Off by
    /// default: with no key configured tollgate only serves on loopback.
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// Where traces and metrics go (OTLP). Read at start; a reload that
    /// changes it is reported and applies on the next start.
    #[serde(default)]
    pub telemetry: Option<TelemetryEntry>,
    /// How spend is reported.
    #[serde(default)]
    pub spend: Option<SpendEntry>,
}

/// `tollgate.telemetry`: OTLP export. Each key, when set, wins over the
/// matching standard `OTEL_*` environment variable.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryEntry {
    /// Collector endpoint, e.g. `http://otel-collector:4317` (gRPC) or
    /// `http://otel-collector:4318` (HTTP). Unset: nothing is pushed.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// `grpc` or `http/protobuf`.
    #[serde(default)]
    pub otlp_protocol: Option<String>,
    /// Headers sent to the collector; values may be secret references.
    #[serde(default)]
    pub otlp_headers: Option<BTreeMap<String, String>>,
    /// `service.name` of the exported resource (default `tollgate`).
    #[serde(default)]
    pub service_name: Option<String>,
    /// Seconds between metric exports (default 60, as OTel's; at most 30 days).
    #[serde(default)]
    pub export_interval: Option<Value>,
    /// Record prompts and completions on spans. Off: they never leave the gateway.
    #[serde(default)]
    pub record_content: bool,
}

/// `tollgate.spend`: the currency spend is reported in.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendEntry {
    /// ISO 4217 code, e.g. `EUR` (default `USD`).
    #[serde(default)]
    pub currency: Option<String>,
    /// Units of `currency` per US dollar, e.g. `0.92` (above 0, at most 10^6). Required unless USD.
    #[serde(default)]
    pub per_usd: Option<f64>,
}

/// One client of `tollgate.clients`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    /// The client's name: the label that says who used which model.
    pub name: String,
    /// The key as a secret reference (`os.environ/NAME`, `file:/path` to a
    /// regular file of at most 64 KiB) or,
    /// discouraged, a literal.
    #[serde(default)]
    pub key: Option<String>,
    /// The key's SHA-256 as 64 hex digits (`printf %s "$KEY" | sha256sum`),
    /// so the file itself holds no usable secret.
    #[serde(default)]
    pub key_sha256: Option<String>,
    /// Model names this client may use; absent means every model.
    #[serde(default)]
    pub models: Option<Vec<String>>,
}
