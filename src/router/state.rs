//! A deployment's health and load, counted in memory with atomics: requests
//! in flight, recent latency, failures in the last minute, cooldown, and the
//! current minute's requests and tokens.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::config::routing::Routing;
use crate::config::Deployment;

/// Milliseconds on tokio's clock (so tests can pause and advance it).
pub fn now_ms() -> u64 {
    static BASE: OnceLock<tokio::time::Instant> = OnceLock::new();
    let base = *BASE.get_or_init(tokio::time::Instant::now);
    tokio::time::Instant::now().saturating_duration_since(base).as_millis() as u64 + 1
}

const MINUTE_MS: u64 = 60_000;

/// What a failed attempt says about its deployment. A cooldown takes the
/// deployment away from every client, so only failures that say it is
/// unhealthy count; a request's own problem does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Every request would fail the same way now: a rate limit (429) or a
    /// rejected key (401: the configured key is wrong or revoked, whatever
    /// the request; LiteLLM cools down on it too). Cools down at once.
    Down,
    /// It may be failing: 5xx, 408, 403 (a key without access to this
    /// model or region, or a provider's block of one request), timeouts,
    /// connection failures. Cools down after more than `allowed_fails` in a
    /// minute.
    Failing,
    /// The request's problem: a path the provider does not serve (404), a
    /// body it rejects (400, 413, 422), a context or content-policy error.
    Unaffected,
}

/// Health and load of one deployment. Reset when a reload replaces it.
#[derive(Debug, Default)]
pub struct State {
    in_flight: AtomicU32,
    /// Exponentially weighted time to first byte, in µs; 0 = never measured.
    latency_us: AtomicU64,
    /// Skipped until this time (ms, `now_ms`); 0 = not cooling down.
    cooldown_until: AtomicU64,
    fail_window_start: AtomicU64,
    fails_in_window: AtomicU32,
    minute_start: AtomicU64,
    minute_requests: AtomicU64,
    minute_tokens: AtomicU64,
}

impl State {
    /// Time left in cooldown at `now`, if any.
    pub fn cooling(&self, now: u64) -> Option<Duration> {
        let until = self.cooldown_until.load(Relaxed);
        (until > now).then(|| Duration::from_millis(until - now))
    }

    /// Whether this minute's `rpm`/`tpm` budget is spent.
    pub fn over_limit(&self, rpm: Option<u64>, tpm: Option<u64>, now: u64) -> bool {
        self.roll_minute(now);
        rpm.is_some_and(|r| self.minute_requests.load(Relaxed) >= r)
            || tpm.is_some_and(|t| self.minute_tokens.load(Relaxed) >= t)
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    pub fn latency_us(&self) -> u64 {
        self.latency_us.load(Relaxed)
    }

    fn roll_minute(&self, now: u64) {
        let start = self.minute_start.load(Relaxed);
        if now.saturating_sub(start) >= MINUTE_MS
            && self.minute_start.compare_exchange(start, now, Relaxed, Relaxed).is_ok()
        {
            self.minute_requests.store(0, Relaxed);
            self.minute_tokens.store(0, Relaxed);
        }
    }

    /// Counts tokens against `tpm` (called when a response's usage is known).
    pub fn add_tokens(&self, tokens: u64) {
        self.roll_minute(now_ms());
        self.minute_tokens.fetch_add(tokens, Relaxed);
    }

    /// Folds a measured time to first byte into the latency average.
    pub fn observe_latency(&self, latency: Duration) {
        let sample = latency.as_micros().max(1) as u64;
        let old = self.latency_us.load(Relaxed);
        let new = if old == 0 { sample } else { (old * 4 + sample) / 5 };
        self.latency_us.store(new, Relaxed);
    }

    /// A success clears the failure count.
    pub fn succeeded(&self) {
        self.fails_in_window.store(0, Relaxed);
    }

    /// Counts a failure; returns whether the deployment now cools down.
    pub fn failed(&self, health: Health, routing: &Routing) -> bool {
        let now = now_ms();
        let cool = match health {
            Health::Down => true,
            Health::Unaffected => false,
            Health::Failing => {
                let start = self.fail_window_start.load(Relaxed);
                if now.saturating_sub(start) >= MINUTE_MS {
                    self.fail_window_start.store(now, Relaxed);
                    self.fails_in_window.store(0, Relaxed);
                }
                self.fails_in_window.fetch_add(1, Relaxed) + 1 > routing.allowed_fails
            }
        };
        if cool {
            self.cooldown_until
                .store(now + routing.cooldown.as_millis() as u64, Relaxed);
            self.fails_in_window.store(0, Relaxed);
        }
        cool
    }
}

/// Counts one request in flight on a deployment until dropped (at the end
/// of its response body).
#[derive(Debug)]
pub struct Busy(Arc<Deployment>);

impl Busy {
    pub fn start(deployment: &Arc<Deployment>) -> Busy {
        deployment.state.in_flight.fetch_add(1, Relaxed);
        deployment.state.roll_minute(now_ms());
        deployment.state.minute_requests.fetch_add(1, Relaxed);
        Busy(deployment.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.state.in_flight.fetch_sub(1, Relaxed);
    }
}
