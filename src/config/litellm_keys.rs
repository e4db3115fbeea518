//! TEMPORARY stub until the full lists land.
pub const TOP_LEVEL: &[&str] = &["callback_settings", "guardrails"];
pub const MODEL_ENTRY: &[&str] = &[];
pub const LITELLM_PARAMS: &[&str] = &["rpm", "tpm"];
pub const GENERAL_SETTINGS: &[&str] = &["database_url"];
pub const LITELLM_SETTINGS: &[&str] = &["drop_params"];
pub const ROUTER_SETTINGS: &[&str] = &["routing_strategy"];
