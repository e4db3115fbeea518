//! Every metric, span and attribute name tollgate emits, in one place, with
//! the semantic-conventions version each follows.
//!
//! The `gen_ai.*` names follow the OpenTelemetry GenAI semantic conventions
//! (status "development") as published with semantic conventions
//! [`SEMCONV_VERSION`] and kept since in the `semantic-conventions-genai`
//! repository. Those conventions define no cost metric, so cost is
//! tollgate's own `tollgate.cost`. Names under `tollgate.` are tollgate's.
//!
//! Prometheus sees the names as the OpenTelemetry Collector translates them:
//! dots become underscores, unit `s` adds `_seconds`, counters end in
//! `_total` (`gen_ai.client.operation.duration` is scraped as
//! `gen_ai_client_operation_duration_seconds_bucket`, `tollgate.cost` as
//! `tollgate_cost_total`).

/// The OpenTelemetry semantic conventions release the GenAI names come from.
pub const SEMCONV_VERSION: &str = "1.42.0";

/// The instrumentation scope of every metric and span.
pub const SCOPE: &str = "tollgate";

// ---- GenAI metrics (semconv 1.42.0, GenAI client metrics) ----

/// Histogram, `s`: how long a request took, to the end of its response body.
pub const OPERATION_DURATION: &str = "gen_ai.client.operation.duration";
/// Histogram, `{token}`: tokens per request, by `gen_ai.token.type` (input, output).
pub const TOKEN_USAGE: &str = "gen_ai.client.token.usage";
/// Histogram, `s`: streamed requests only, from request start to the first chunk sent.
pub const TIME_TO_FIRST_CHUNK: &str = "gen_ai.client.operation.time_to_first_chunk";

/// Bucket boundaries semconv recommends for `gen_ai.client.operation.duration`
/// and `gen_ai.client.operation.time_to_first_chunk`.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// Bucket boundaries semconv recommends for `gen_ai.client.token.usage`.
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0,
];

// ---- tollgate's own metrics ----

/// Counter, `{request}`: model requests by outcome and status class.
pub const REQUESTS: &str = "tollgate.requests";
/// UpDownCounter, `{request}`: requests in flight (every path).
pub const REQUESTS_ACTIVE: &str = "tollgate.requests.active";
/// Counter, `{request}`: requests whose cost is unknown, by `tollgate.unpriced.reason`
/// (`no_price`: the model has no price; `no_usage`: the provider reported no usage).
pub const REQUESTS_UNPRICED: &str = "tollgate.requests.unpriced";
/// Counter, `{token}`: tokens by client and model, by `gen_ai.token.type`
/// (`input` and `output`, plus the subsets `cache_read`, `cache_write` of input
/// and `reasoning` of output).
pub const TOKENS: &str = "tollgate.tokens";
/// Counter, `{currency}`: spend in the reporting currency (`tollgate.currency`),
/// by model, client, provider and serving entry (`tollgate.deployment`).
/// semconv has no cost metric yet (`gen_ai.client.operation.cost` is not in 1.42.0).
pub const COST: &str = "tollgate.cost";
/// Counter, `{attempt}`: every try on an upstream, by provider, server and
/// `error.type` (absent when it answered 2xx): a flaky provider shows here
/// even when a retry or fallback saved the request.
pub const UPSTREAM_ATTEMPTS: &str = "tollgate.upstream.attempts";
/// Counter, `{retry}`: attempts retried on the same model group.
pub const RETRIES: &str = "tollgate.retries";
/// Counter, `{fallback}`: moves to a fallback model group.
pub const FALLBACKS: &str = "tollgate.fallbacks";
/// Gauge, `{deployment}`: per deployment of the serving config, 1 while it
/// cools down, else 0 (read when metrics are collected).
pub const DEPLOYMENTS_COOLDOWN: &str = "tollgate.deployments.cooldown";
/// Gauge, `{deployment}`: `model_list` entries of the serving config loaded
/// disabled (a provider tollgate does not speak yet), by provider.
pub const DEPLOYMENTS_DISABLED: &str = "tollgate.deployments.disabled";
/// Counter, `{reload}`: config reload attempts by `tollgate.outcome` (ok, unchanged, failed).
pub const CONFIG_RELOADS: &str = "tollgate.config.reloads";
/// Gauge: the generation of the config serving now (1 at start).
pub const CONFIG_GENERATION: &str = "tollgate.config.generation";
/// Gauge: 1 when the last config load or reload succeeded, 0 when it failed
/// and an older config still serves.
pub const CONFIG_LAST_RELOAD_SUCCESS: &str = "tollgate.config.last_reload_success";
/// Counter, `{export}`: OTLP exports that failed, by `tollgate.signal`.
/// Spans dropped because the export queue was full are counted by the SDK's
/// own `otel.sdk.processor.span.processed` with `error.type=queue_full`.
pub const EXPORTS_FAILED: &str = "tollgate.telemetry.exports.failed";

/// Gauge, `{currency}`: each budget's limit in the reporting currency, by `tollgate.budget`.
pub const BUDGET_LIMIT: &str = "tollgate.budget.limit";
/// Gauge, `{currency}`: each budget's spend in its current period (the
/// fleet's, as far as this replica knows it), by `tollgate.budget`.
pub const BUDGET_SPENT: &str = "tollgate.budget.spent";
/// Gauge, `{currency}`: `limit - spent`, never below 0, by `tollgate.budget`.
pub const BUDGET_REMAINING: &str = "tollgate.budget.remaining";
/// Gauge: when each budget's period ends and it resets (Unix seconds), by `tollgate.budget`.
pub const BUDGET_PERIOD_END: &str = "tollgate.budget.period_end";
/// Gauge: 1 for the state the fleet spend reader is in (`tollgate.budget.source`:
/// `local`, `pending`, `fresh`, `stale`), 0 for the others.
pub const BUDGET_SOURCE: &str = "tollgate.budget.source";

// ---- attributes ----

/// `chat`, `text_completion`, `embeddings`, `responses`.
pub const OPERATION_NAME: &str = "gen_ai.operation.name";
/// The provider prefix of the serving entry (`openai`, `openrouter`, ...).
pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
/// On the request: the configured `model_name` the client asked for, or
/// [`UNKNOWN_MODEL`]. On an attempt: the model sent upstream.
pub const REQUEST_MODEL: &str = "gen_ai.request.model";
/// The upstream model of the serving entry.
pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
/// Host of the serving entry's `api_base`.
pub const SERVER_ADDRESS: &str = "server.address";
/// Why a request failed: the gateway's error code, the upstream status, or
/// `client_closed` / `upstream_broken`.
pub const ERROR_TYPE: &str = "error.type";
/// `input` or `output` (semconv), or a tollgate subset (see [`TOKENS`]).
pub const TOKEN_TYPE: &str = "gen_ai.token.type";
/// The caller: a client name from its key, `master` or `anonymous`.
pub const CLIENT: &str = "tollgate.client";
/// How it ended: `ok`, `upstream_error`, `gateway_error`, `client_closed`,
/// `upstream_broken` (requests); `ok`, `unchanged`, `failed` (reloads).
pub const OUTCOME: &str = "tollgate.outcome";
/// `2xx`, `4xx`, `5xx`, ...
pub const STATUS_CLASS: &str = "http.response.status_class";
/// ISO 4217 code of the reporting currency.
pub const CURRENCY: &str = "tollgate.currency";
/// `no_price` or `no_usage`.
pub const UNPRICED_REASON: &str = "tollgate.unpriced.reason";
/// Position of the entry in `model_list`.
pub const DEPLOYMENT: &str = "tollgate.deployment";
/// A budget's name: `gateway`, `provider:<name>`, `deployment:<position>`,
/// `client:<name>` (configured names only).
pub const BUDGET: &str = "tollgate.budget";
/// Where budget spend comes from: `local`, `pending`, `fresh`, `stale`.
pub const BUDGET_SOURCE_STATE: &str = "tollgate.budget.state";
/// `traces` or `metrics`.
pub const SIGNAL: &str = "tollgate.signal";

/// The value of `gen_ai.request.model` for a model name nobody configured:
/// client input never becomes a new series.
pub const UNKNOWN_MODEL: &str = "_OTHER";

// ---- span-only attributes ----

/// semconv: input tokens, cached ones included.
pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// semconv: output tokens, reasoning ones included.
pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// semconv: input tokens read from the provider's cache.
pub const USAGE_CACHE_READ_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
/// semconv: input tokens written to the provider's cache.
pub const USAGE_CACHE_CREATION_TOKENS: &str = "gen_ai.usage.cache_creation.input_tokens";
/// semconv: output tokens spent on reasoning.
pub const USAGE_REASONING_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
/// semconv: seconds to the first streamed chunk.
pub const RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
/// semconv: the prompt, only when `tollgate.telemetry.record_content` is on.
pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// The response status sent to the client.
pub const HTTP_STATUS_CODE: &str = "http.response.status_code";
/// Whether the client asked for a stream.
pub const STREAM: &str = "tollgate.stream";
/// The wire format the client spoke (`chat`, `anthropic`, `responses`).
pub const CLIENT_FORMAT: &str = "tollgate.client.format";
/// The wire format the provider was sent: differs from the client's when
/// the request was translated.
pub const UPSTREAM_FORMAT: &str = "tollgate.upstream.format";
/// 1 for the first attempt, 2 for the first retry, ...
pub const ATTEMPT: &str = "tollgate.attempt";
