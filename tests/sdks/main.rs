//! The official Python SDKs (`anthropic`, `openai`, pinned in requirements.txt
//! and installed by scripts/test.sh) and async-openai finish tool round trips
//! through tollgate, translated and passed through, against scripted upstreams.

#[path = "../common/mod.rs"]
mod common;

// The scripted tool-call upstreams tests/clients uses, shared as they are.
#[allow(dead_code)]
#[path = "../clients/upstream/mod.rs"]
mod upstream;

/// tests/clients' upstream reports a client run as `crate::sandbox::Outcome`.
mod sandbox {
    pub use crate::python::Outcome;
}

mod anthropic_sdk;
mod async_openai_responses;
mod openai_sdk;
mod python;
mod round_trip;
