//! Property tests that throw generated and mutated input at the parts of
//! tollgate that read untrusted bytes: the config loader, the request body
//! reader and its `model` splice, and the usage scan of SSE streams and JSON
//! answers.
//!
//! Each property runs a small number of cases by default, so the whole target
//! stays well under two minutes in a debug build and can run in CI.
//! `TOLLGATE_FUZZ_SCALE=N` runs N times as many cases; `TOLLGATE_FUZZ_SEED=S`
//! makes a run repeatable (by default every run draws new cases, and a failure
//! prints the smallest input it shrank to).

mod config;
mod mutate;
mod request;
mod sse;
mod usage;

use std::sync::mpsc;
use std::time::Duration;

use proptest::test_runner::{Config, RngSeed};

/// The runner's settings for a property worth `cases` cases in CI.
pub fn cases(cases: u32) -> Config {
    let scale = env_number("TOLLGATE_FUZZ_SCALE").unwrap_or(1).max(1);
    Config {
        cases: cases.saturating_mul(u32::try_from(scale).unwrap_or(u32::MAX)),
        // Findings are kept as named tests, not as files the runner writes.
        failure_persistence: None,
        rng_seed: env_number("TOLLGATE_FUZZ_SEED").map_or(RngSeed::Random, RngSeed::Fixed),
        // Shrinking a slow case must not turn a finding into a CI timeout.
        max_shrink_time: 30_000,
        ..Config::default()
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// How long one case may take before it counts as a hang. Generous: a debug
/// build on a busy two-core machine is slow, and a real hang never ends.
pub const HANG: Duration = Duration::from_secs(20);

/// Runs `f` on its own thread and returns its result; a panic in `f` is
/// re-raised here (so the runner sees it and shrinks the input), and `f`
/// still running after `limit` fails the case as a hang.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = done.send(f());
    });
    match result.recv_timeout(limit) {
        Ok(value) => {
            let _ = worker.join();
            value
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hang: the case did not finish within {limit:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => panic!("panicked: {}", panic_message(&panic)),
            Ok(()) => unreachable!("the worker ends by sending or by panicking"),
        },
    }
}

/// The text of a caught panic.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_owned(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".to_owned(),
    }
}
