//! Every way one request or one bad file was found to hurt the gateway
//! (issue 11), each kept as a test that looks like the attack.

#[path = "../common/mod.rs"]
mod common;

mod config;
mod server;
mod upstream;
