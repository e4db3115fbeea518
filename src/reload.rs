//! Hot reload: on a watched change or SIGHUP, load the file again, validate
//! and resolve it completely, and swap it in only if it is good and really
//! changed. A bad file keeps the running config and says why.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::{self, watch};
use crate::gateway::Gateway;

/// What the last reload did, shown on the readiness endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigStatus {
    /// Counts the configs that have served; 1 is the one loaded at start.
    pub generation: u64,
    /// Unix seconds when the current config was loaded.
    pub loaded_at: u64,
    /// `true` when the last attempt failed and an older config still serves.
    pub last_reload_failed: bool,
    /// The problems of the last failed attempt (cleared by a success), each
    /// by place and kind only: this is served without authentication, so it
    /// never quotes the file.
    pub last_error: Option<String>,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    pub reloads_unchanged: u64,
}

impl ConfigStatus {
    pub fn initial() -> Self {
        ConfigStatus {
            generation: 1,
            loaded_at: unix_now(),
            last_reload_failed: false,
            last_error: None,
            reloads_ok: 0,
            reloads_failed: 0,
            reloads_unchanged: 0,
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How a reload attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new config now serves.
    Swapped,
    /// The file and its secrets are byte-identical to what serves.
    Unchanged,
    /// The file is invalid; the running config stays.
    Rejected,
}

impl Outcome {
    /// The bounded label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Swapped => "ok",
            Outcome::Unchanged => "unchanged",
            Outcome::Rejected => "failed",
        }
    }
}

/// Reloads one config file into one gateway.
pub struct Reloader {
    pub path: PathBuf,
    pub gateway: Arc<Gateway>,
    /// Whether the listener is on loopback (a keyless config is refused otherwise).
    pub loopback: bool,
}

impl Reloader {
    /// Loads, validates and swaps. Never panics, never half-applies.
    pub fn reload(&self, trigger: &'static str) -> Outcome {
        self.reload_noting(trigger, &mut Vec::new())
    }

    /// `reload`, listing in `referenced` the secret files the file names
    /// (read or not), so the watcher also follows those of a refused file.
    fn reload_noting(&self, trigger: &'static str, referenced: &mut Vec<PathBuf>) -> Outcome {
        let started = Instant::now();
        self.apply(trigger, started, self.load(referenced))
    }

    /// Swaps only if the file changed since it was loaded, and says nothing
    /// otherwise: closes the gap between the first load and the first watch.
    fn catch_up(&self, referenced: &mut Vec<PathBuf>) {
        let started = Instant::now();
        let loaded = self.load(referenced);
        if !matches!(&loaded, Ok(l) if l.config.fingerprint == self.gateway.config().fingerprint) {
            self.apply("catch-up", started, loaded);
        }
    }

    fn load(&self, referenced: &mut Vec<PathBuf>) -> Result<config::Loaded, Vec<config::Problem>> {
        config::load_file_noting(&self.path, &config::process_env, referenced).and_then(|loaded| {
            let c = &loaded.config;
            if !self.loopback && !c.requires_key() && !c.allow_unauthenticated {
                let message = "the new config has no master_key or client keys while listening beyond loopback";
                return Err(vec![config::Problem {
                    at: "config".into(),
                    message: message.into(),
                }]);
            }
            Ok(loaded)
        })
    }

    fn apply(
        &self,
        trigger: &'static str,
        started: Instant,
        loaded: Result<config::Loaded, Vec<config::Problem>>,
    ) -> Outcome {
        let outcome = match loaded {
            Err(problems) => {
                let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
                for problem in &text {
                    tracing::error!(config = %self.path.display(), trigger, "reload refused: {problem}");
                }
                self.gateway.update_status(|s| {
                    s.last_reload_failed = true;
                    s.last_error = Some(text.join("; "));
                    s.reloads_failed += 1;
                });
                Outcome::Rejected
            }
            Ok(loaded) if loaded.config.fingerprint == self.gateway.config().fingerprint => {
                self.gateway.update_status(|s| {
                    s.reloads_unchanged += 1;
                    s.last_reload_failed = false;
                    s.last_error = None;
                });
                Outcome::Unchanged
            }
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    tracing::warn!(config = %self.path.display(), "{warning}");
                }
                let models = loaded.config.model_names.len();
                if loaded.config.telemetry != self.gateway.config().telemetry {
                    tracing::warn!(config = %self.path.display(), "tollgate.telemetry changed: it applies at the next start");
                }
                self.gateway.swap(loaded.config);
                let generation = self.gateway.update_status(|s| {
                    s.generation += 1;
                    s.loaded_at = unix_now();
                    s.last_reload_failed = false;
                    s.last_error = None;
                    s.reloads_ok += 1;
                });
                let took_ms = started.elapsed().as_secs_f64() * 1e3;
                tracing::info!(config = %self.path.display(), trigger, generation, models, took_ms, "config reloaded");
                Outcome::Swapped
            }
        };
        crate::telemetry::record_reload(outcome, self.gateway.status().generation);
        outcome
    }

    /// Watches the files that matter: the config, the running config's
    /// secret files, and those the last attempt named (a secret that was
    /// missing reloads when it appears).
    fn rewatch(&self, watch: Option<&mut watch::FolderWatch>, attempted: &[PathBuf]) {
        if let Some(w) = watch {
            let mut files = vec![self.path.clone()];
            files.extend(self.gateway.config().secret_files.iter().cloned());
            files.extend(attempted.iter().cloned());
            for (folder, error) in w.set(&files) {
                tracing::warn!(folder = %folder.display(), %error, "cannot watch this folder; reload with SIGHUP");
            }
        }
    }

    /// Reloads on every watched change (unless `watch` is off) and on
    /// SIGHUP, until the process ends. The SIGHUP handler is installed before
    /// this returns, so a SIGHUP right after start-up reloads instead of
    /// killing the process.
    pub fn spawn(self, watch_files: bool) -> tokio::task::JoinHandle<()> {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signal) => Some(signal),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP");
                None
            }
        };
        let mut watch = if watch_files {
            match watch::FolderWatch::new() {
                Ok(w) => Some(w),
                Err(error) => {
                    tracing::warn!(%error, "cannot watch files; reload with SIGHUP");
                    None
                }
            }
        } else {
            None
        };
        let this = Arc::new(self);
        // Watch before returning, then catch up on anything changed since the first load.
        let mut referenced = Vec::new();
        this.rewatch(watch.as_mut(), &referenced);
        this.catch_up(&mut referenced);
        this.rewatch(watch.as_mut(), &referenced);
        tokio::spawn(async move {
            loop {
                let trigger = tokio::select! {
                    Some(()) = async { watch.as_mut()?.changed().await } => "watch",
                    Some(()) = async { hangup.as_mut()?.recv().await } => "sighup",
                    else => return,
                };
                let reloader = this.clone();
                // Parsing and reading files is blocking work; keep it off the request threads.
                let attempt = tokio::task::spawn_blocking(move || {
                    let mut referenced = Vec::new();
                    reloader.reload_noting(trigger, &mut referenced);
                    referenced
                });
                let referenced = attempt.await.unwrap_or_default();
                // Secret files may have moved to other folders.
                this.rewatch(watch.as_mut(), &referenced);
            }
        })
    }
}
