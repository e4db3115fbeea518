//! The running configuration: LiteLLM's YAML parsed, every key checked,
//! references resolved, and built into a `Config` that cannot be wrong.

mod budgets;
mod build;
mod clients;
mod deployment;
mod entry;
mod include;
pub mod litellm_keys;
mod numbers;
mod provider_setup;
mod raw;
mod resolve;
pub mod routing;
mod settings;
pub mod watch;
mod yaml;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Uri};

use crate::auth::Keys;
use crate::providers::{Endpoint, Provider};
use crate::secret::Secret;

pub use build::load_str;
pub use numbers::{MAX_SECONDS, MIN_SECONDS};
pub use resolve::MAX_SECRET_FILE_BYTES;
pub use settings::TelemetrySettings;

/// One thing wrong with a config file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: a key path (`model_list[1] litellm_params.api_key`), or
    /// `yaml line L, column C`. Never a value from the file: problems are
    /// logged and shown on the unauthenticated readiness endpoint.
    pub at: String,
    /// What is wrong, in a sentence that quotes nothing from the file (key
    /// names and references such as environment variable names aside).
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// A config that loaded: the running form plus what was ignored.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// One line per LiteLLM key tollgate accepted but does not implement.
    pub warnings: Vec<String>,
}

/// A `model_list` entry tollgate cannot serve: loaded disabled, so the
/// others serve; requests to it get a 501 saying why.
#[derive(Debug, Clone)]
pub struct Disabled {
    /// The entry's `model_name`.
    pub model_name: Arc<str>,
    /// Its position in `model_list`.
    pub index: usize,
    /// The LiteLLM provider it names (from a closed set: safe to show and
    /// a metric label); `unknown` when its `model` could not be read or
    /// names no provider tollgate finds (`olama/x`, `*`, an unknown bare name).
    pub provider: &'static str,
    /// Why it cannot be served.
    pub reason: DisabledReason,
}

/// Why an entry loaded disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisabledReason {
    /// Its provider is LiteLLM's, and tollgate does not speak it yet.
    ProviderNotSupported,
    /// One of its values cannot be used (`api_base` missing or not an
    /// http(s) URL, an `os.environ/` variable unset, ...): the key path and a
    /// sentence that quotes no value (`litellm_params.api_base: is not a URL`).
    Unservable(Arc<str>),
}

impl fmt::Display for Disabled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            DisabledReason::ProviderNotSupported => {
                write!(f, "provider `{}` is not supported yet", self.provider)
            }
            DisabledReason::Unservable(why) => f.write_str(why),
        }
    }
}

/// A validated, resolved configuration. A running gateway always has one;
/// a request takes one snapshot and keeps it to the end.
#[derive(Debug)]
pub struct Config {
    /// Every `model_list` entry, in file order.
    pub deployments: Vec<Arc<Deployment>>,
    /// Entries loaded disabled (a provider tollgate does not speak, or a
    /// value it cannot use), in file order.
    pub disabled: Vec<Disabled>,
    /// `model_name` to the entries that serve it, in file order.
    groups: HashMap<Arc<str>, Vec<Arc<Deployment>>>,
    /// Model names in order of first appearance (for `/v1/models`).
    pub model_names: Vec<Arc<str>>,
    /// Wildcard group names, most specific (longest fixed part) first.
    wildcards: Vec<Arc<str>>,
    /// The master key and the client keys.
    pub keys: Keys,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Serve without keys beyond loopback (`tollgate.allow_unauthenticated`).
    pub allow_unauthenticated: bool,
    /// Files read through `file:` references, to be watched for rotation.
    pub secret_files: Vec<PathBuf>,
    /// Digest of the config text and every secret file it read.
    pub fingerprint: [u8; 32],
    /// OTLP export (`tollgate.telemetry`); applied at start only.
    pub telemetry: TelemetrySettings,
    /// The currency spend is reported in (`tollgate.spend`).
    pub currency: crate::spend::Currency,
    /// Strategy, retries, fallbacks, cooldowns, aliases.
    pub routing: routing::Routing,
    /// Spend budgets and where the fleet's spend is read (`crate::budget`).
    pub budgets: crate::budget::Settings,
}

impl Config {
    /// The disabled entry named `requested`, when no enabled entry serves
    /// that name: an exact `model_name`, else a disabled wildcard entry
    /// (`"*"`, `bedrock/*`) that would have served it, so its caller learns
    /// why rather than getting "unknown model".
    pub fn disabled_entry(&self, requested: &str) -> Option<&Disabled> {
        let wildcard = |d: &&Disabled| {
            d.model_name.split_once('*').is_some_and(|(p, s)| {
                requested.len() >= p.len() + s.len() && requested.starts_with(p) && requested.ends_with(s)
            })
        };
        let mut disabled = self.disabled.iter();
        disabled
            .clone()
            .find(|d| &*d.model_name == requested)
            .or_else(|| disabled.find(wildcard))
    }

    /// The entries serving `model_name`, if any.
    pub fn group(&self, model_name: &str) -> Option<&[Arc<Deployment>]> {
        self.groups.get(model_name).map(Vec::as_slice)
    }

    /// The group serving a requested name: an exact `model_name`, then a
    /// `model_group_alias` (whose target may itself be served by a
    /// wildcard), then the most specific wildcard entry (`openai/*` before `*`).
    pub fn resolve<'a>(&'a self, requested: &'a str) -> Option<Resolved<'a>> {
        let name = self.routing.aliases.get(requested).map_or(requested, String::as_str);
        if let Some((group, deployments)) = self.groups.get_key_value(name) {
            return Some(Resolved {
                group,
                deployments,
                name,
            });
        }
        self.wildcards.iter().find_map(|group| {
            let deployments = self.groups.get(group)?;
            deployments.first()?.matches(name).then_some(Resolved {
                group,
                deployments,
                name,
            })
        })
    }

    /// Names for `GET /v1/models`: every group and every visible alias.
    pub fn listed_names(&self) -> impl Iterator<Item = &str> {
        let hidden = &self.routing.hidden_aliases;
        let aliases = self
            .routing
            .aliases
            .keys()
            .filter(move |a| !hidden.contains(a))
            .map(String::as_str);
        let mut aliases: Vec<&str> = aliases.collect();
        aliases.sort_unstable();
        self.model_names.iter().map(|n| &**n).chain(aliases)
    }

    /// Whether any key is configured (else requests are anonymous).
    pub fn requires_key(&self) -> bool {
        !self.keys.is_empty()
    }
}

/// Where a requested model name leads.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a> {
    /// The configured `model_name` of the group (shared: a bounded metric label).
    pub group: &'a Arc<str>,
    pub deployments: &'a [Arc<Deployment>],
    /// The name wildcards are matched against: the request's, or its alias's target.
    pub name: &'a str,
}

/// One `model_list` entry, ready to serve.
#[derive(Debug)]
pub struct Deployment {
    /// The name clients send (`model_name`).
    pub model_name: Arc<str>,
    /// Position in `model_list`, for logs (`model_list[3]`).
    pub index: usize,
    /// The provider named by the `litellm_params.model` prefix.
    pub provider: &'static Provider,
    /// The model name sent upstream (after the first `/`).
    pub upstream_model: Arc<str>,
    /// The same, JSON-encoded with quotes, ready to splice into a body.
    pub upstream_model_json: Arc<str>,
    /// Full upstream URL per endpoint (`api_base` + suffix), by `Endpoint::index`.
    pub urls: [Uri; 6],
    /// The model's output token limit, when the bundled table knows it:
    /// filled in as `max_tokens` for an Anthropic upstream when the client
    /// gave none (Anthropic requires one).
    pub max_output_tokens: Option<u64>,
    /// The client formats its server speaks itself, most preferred first;
    /// requests in any other format are translated to the first.
    pub serves: Vec<crate::protocol::Format>,
    /// Host of `api_base` (`server.address` in telemetry).
    pub server_address: Arc<str>,
    /// The provider key, sent as a Bearer token.
    pub api_key: Option<Secret>,
    /// The key's header, built once and marked sensitive:
    /// `Authorization: Bearer <api_key>`, or Anthropic's `x-api-key`;
    /// `None` without a key or when the configured headers set their own.
    pub authorization: Option<(http::HeaderName, http::HeaderValue)>,
    /// Fetches the Entra ID token sent as `Authorization: Bearer` (an Azure
    /// entry with `tenant_id`, `client_id` and `client_secret`).
    pub credential: Option<Arc<crate::providers::entra::TokenSource>>,
    /// `provider/upstream-model`, for log lines.
    pub label: Arc<str>,
    /// `x-tollgate-deployment`'s value (the index), built once: answers
    /// carry it without an allocation.
    pub index_header: http::HeaderValue,
    /// `model_name` as a header value, built once (`None` when a header
    /// cannot carry it).
    pub name_header: Option<http::HeaderValue>,
    /// Headers added to every upstream request (values marked sensitive).
    pub headers: HeaderMap,
    /// The whole request's time limit (`timeout`).
    pub timeout: Duration,
    /// Time limit to the first chunk of a stream (`stream_timeout`).
    pub stream_timeout: Duration,
    /// Requests per minute this deployment takes (`rpm`).
    pub rpm: Option<u64>,
    /// Tokens per minute this deployment takes (`tpm`).
    pub tpm: Option<u64>,
    /// Share of the group's traffic under simple-shuffle (`weight`).
    pub weight: Option<f64>,
    /// Priority tier, lowest first (`order`; unset is last).
    pub order: u32,
    /// For a wildcard `model_name` (`openai/*`, `*`): the text before and after the `*`.
    pub pattern: Option<(String, String)>,
    /// Health and load, counted in memory.
    pub state: crate::router::State,
    /// Answer with this text instead of calling the provider.
    pub mock_response: Option<Arc<str>>,
    /// Request fields from `litellm_params` (`max_tokens`, `temperature`,
    /// `extra_body`'s members, ...) sent when the client did not send them,
    /// in each upstream format's own terms.
    pub request_defaults: crate::request::defaults::RequestDefaults,
    /// Chat request fields the provider knows by another name, `(from, to)`
    /// (LiteLLM's `param_mappings`, from the provider table), renamed when present.
    pub param_renames: &'static [(&'static str, &'static str)],
    /// USD prices per token: the bundled table's, or the entry's own;
    /// `None` when unknown (counted as unpriced, never as free).
    pub price: Option<crate::spend::Price>,
    /// Its instruments, bound to its label sets on first use.
    pub metrics: crate::telemetry::DeploymentMetrics,
}

impl Deployment {
    /// How each client format reaches this deployment, for `tollgate check`
    /// and `/v1/models`: `chat: native, responses: via chat, ...`.
    pub fn formats_summary(&self) -> String {
        use crate::protocol::{plan, Format};
        let mut out = Vec::with_capacity(3);
        for client in [Format::Chat, Format::Responses, Format::Anthropic] {
            let how = match (self.mock_response.is_some(), plan(client, &self.serves)) {
                (true, _) => "mock".to_string(),
                (false, Some(upstream)) if upstream == client => "native".to_string(),
                (false, Some(upstream)) => format!("via {}", upstream.name()),
                (false, None) => "no".to_string(),
            };
            out.push(format!("{}: {how}", client.name()));
        }
        out.join(", ")
    }

    /// The upstream model for a requested name: a wildcard entry puts what
    /// the `*` matched in place of the `*` of its upstream model.
    pub fn upstream_for<'a>(&'a self, requested: &str) -> std::borrow::Cow<'a, str> {
        match (&self.pattern, self.upstream_model.contains('*')) {
            (Some((prefix, suffix)), true) => {
                let matched = &requested[prefix.len()..requested.len() - suffix.len()];
                std::borrow::Cow::Owned(self.upstream_model.replacen('*', matched, 1))
            }
            _ => std::borrow::Cow::Borrowed(&self.upstream_model),
        }
    }

    /// Whether a wildcard entry's `model_name` matches `requested`.
    pub fn matches(&self, requested: &str) -> bool {
        self.pattern.as_ref().is_some_and(|(p, s)| {
            requested.len() >= p.len() + s.len() && requested.starts_with(p.as_str()) && requested.ends_with(s.as_str())
        })
    }

    /// The upstream URL for an endpoint.
    pub fn url(&self, endpoint: Endpoint) -> &Uri {
        // In `Endpoint::ALL` order, as `upstream_urls` builds the table.
        let [chat, completions, embeddings, responses, messages, count_tokens] = &self.urls;
        match endpoint {
            Endpoint::ChatCompletions => chat,
            Endpoint::Completions => completions,
            Endpoint::Embeddings => embeddings,
            Endpoint::Responses => responses,
            Endpoint::Messages => messages,
            Endpoint::CountTokens => count_tokens,
        }
    }
}

/// The largest config file read: 16 MiB, some thousands of `model_list`
/// entries; a device or a runaway file is refused instead of read forever.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Reads and loads a config file. `env` looks up environment variables.
pub fn load_file(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, Vec<Problem>> {
    load_file_noting(path, env, &mut Vec::new())
}

/// `load_file` that also lists the `file:` secrets the config names, read or
/// not, in `referenced` (for the watcher).
pub fn load_file_noting(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    referenced: &mut Vec<PathBuf>,
) -> Result<Loaded, Vec<Problem>> {
    let text = resolve::read_regular(path, MAX_CONFIG_BYTES).map_err(|e| {
        vec![Problem {
            at: "config".into(),
            message: format!("the config file {e}"),
        }]
    })?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    build::load_noting(&text, base_dir, Some(path), env, referenced)
}

/// The process environment, for `load_file`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests;
