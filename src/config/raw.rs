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
    /// Free-form metadata (LiteLLM's `model_info`); accepted, not interpreted yet.
    #[serde(default, rename = "model_info")]
    pub _model_info: Option<serde::de::IgnoredAny>,
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
    #[serde(default)]
    pub api_base: Option<String>,
    /// The provider key, sent as `Authorization: Bearer <key>`. Usually
    /// `os.environ/NAME` or `file:/path/to/secret`.
    #[serde(default)]
    pub api_key: Option<String>,
    /// Headers added to every upstream request of this entry.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, Value>>,
    /// LiteLLM's other spelling of `headers`; both may be given (merged).
    #[serde(default)]
    pub extra_headers: Option<BTreeMap<String, Value>>,
    /// Seconds to wait for the provider's response head (number or numeric
    /// string). Default: `litellm_settings.request_timeout`, else 600.
    #[serde(default)]
    pub timeout: Option<Value>,
    /// Answer with this text without calling any provider (LiteLLM's mock).
    #[serde(default)]
    pub mock_response: Option<String>,
}

/// `general_settings` (implemented subset).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneralSettings {
    /// The admin key: may call every model. `os.environ/NAME` recommended.
    #[serde(default)]
    pub master_key: Option<String>,
    /// Largest request body accepted, in MiB (default 32).
    #[serde(default)]
    pub max_request_size_mb: Option<f64>,
}

/// `litellm_settings` (implemented subset).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LitellmSettings {
    /// Default `timeout` in seconds for entries that set none.
    #[serde(default)]
    pub request_timeout: Option<Value>,
}

/// tollgate's own section. LiteLLM ignores it, so one file serves both.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TollgateSettings {
    /// Per-client keys, checked without any database.
    #[serde(default)]
    pub clients: Vec<ClientEntry>,
    /// Serve without any key even when listening beyond loopback. Off by
    /// default: with no key configured tollgate only serves on loopback.
    #[serde(default)]
    pub allow_unauthenticated: bool,
}

/// One client of `tollgate.clients`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    /// The client's name: the label that says who used which model.
    pub name: String,
    /// The key as a secret reference (`os.environ/NAME`, `file:/path`) or,
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
