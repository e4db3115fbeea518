//! tollgate: a lean, stateless LLM gateway. One OpenAI-compatible endpoint in
//! front of every provider, configured by LiteLLM's `proxy_config.yaml`.
#![forbid(unsafe_code)]
// A panic is contained to its request (`panic = "unwind"`), but it is still a
// bug: the library states its invariants in types, `get` and patterns instead.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod auth;
pub mod body;
pub mod budget;
pub mod config;
pub mod error;
pub mod forward;
pub mod gateway;
pub mod logging;
pub mod protocol;
pub mod providers;
pub mod record;
pub mod reload;
pub mod request;
pub mod router;
pub mod secret;
pub mod server;
pub mod spend;
pub mod stream;
pub mod telemetry;
pub mod translate;
pub mod upstream;
