//! The real CLI assistants end to end: Claude Code 2.1.197 and Codex 0.171.0
//! (pinned in package.json, installed by scripts/test.sh) each finish a tool
//! round trip, straight at a scripted upstream and through tollgate.

#[path = "../common/mod.rs"]
mod common;

mod chat_client;
mod claude;
mod codex;
mod sandbox;
mod upstream;
