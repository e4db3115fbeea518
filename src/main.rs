//! The `tollgate` command: parse flags, load the config, serve until a
//! signal, drain, exit.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use tollgate::config::{self, Loaded};
use tollgate::gateway::{self, Gateway};
use tollgate::logging::{self, LogFormat};
use tollgate::reload::Reloader;
use tollgate::request::BodyLimits;
use tollgate::server::cores::{self, Listeners};
use tollgate::server::Limits;
use tollgate::telemetry;

/// A lean, stateless LLM gateway: one OpenAI-compatible endpoint in front of
/// every provider, configured by LiteLLM's proxy_config.yaml.
#[derive(Parser)]
#[command(name = "tollgate", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Load and validate a config without serving: exit 0 if it would start,
    /// else print every problem and exit 1.
    Check {
        /// The LiteLLM-style proxy_config.yaml.
        #[arg(short, long, env = "TOLLGATE_CONFIG")]
        config: PathBuf,
        /// Also exit 1 when any entry cannot be served (a provider tollgate
        /// does not speak yet), for pipelines that want every model to work.
        #[arg(long)]
        strict: bool,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// The LiteLLM-style proxy_config.yaml to serve.
    #[arg(short, long, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on. Without any key configured, only a loopback address serves.
    #[arg(long, env = "TOLLGATE_LISTEN_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "TOLLGATE_LISTEN_PORT", default_value_t = 4000)]
    port: u16,
    /// Log line format.
    #[arg(long, env = "TOLLGATE_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// On SIGTERM/SIGINT, how long in-flight requests and streams may take to finish.
    #[arg(long, env = "TOLLGATE_DRAIN_SECONDS", default_value_t = 25)]
    drain_seconds: u64,
    /// Also serve health (and metrics) on this port, without a key and
    /// without model routes: for probes and scrapers that cannot reach a
    /// loopback-only API (a sidecar on 127.0.0.1).
    #[arg(long, env = "TOLLGATE_ADMIN_PORT")]
    admin_port: Option<u16>,
    /// Address of the admin listener.
    #[arg(long, env = "TOLLGATE_ADMIN_HOST", default_value = "0.0.0.0")]
    admin_host: String,
    /// Do not watch the config's folder for changes (for file systems where
    /// watching does not work); SIGHUP still reloads.
    #[arg(long, env = "TOLLGATE_NO_WATCH")]
    no_watch: bool,
    /// Cores that serve requests [default: the CPUs this process may use,
    /// after any cgroup quota]: one thread each under `per-core`, the
    /// worker pool's size under `multi-thread`.
    #[arg(long, env = "TOLLGATE_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    worker_threads: Option<u16>,
    /// How requests are scheduled. `per-core`: a single-threaded runtime
    /// per core, each accepting on its own socket of the shared port
    /// (SO_REUSEPORT), a connection served where it was accepted. The
    /// cheapest per request; a core busy with one heavy client does not
    /// hand its work to an idle one. `multi-thread`: one work-stealing pool
    /// over all threads, which balances uneven connections at about 15 %
    /// more CPU per request.
    #[arg(long, env = "TOLLGATE_RUNTIME", value_enum, default_value = "per-core")]
    runtime: RuntimeKind,
    #[command(flatten)]
    limits: LimitArgs,
}

/// How requests are scheduled on the threads that serve them.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RuntimeKind {
    PerCore,
    MultiThread,
}

/// What one client may hold: connections, time, buffered bytes.
#[derive(Args)]
struct LimitArgs {
    /// Seconds a new connection may take to send its first request head.
    #[arg(long, env = "TOLLGATE_HEADER_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    header_timeout_seconds: u64,
    /// Seconds a client may take to send a whole request body.
    #[arg(long, env = "TOLLGATE_BODY_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    body_timeout_seconds: u64,
    /// Seconds a connection may stay open with no request in flight
    /// (HTTP/1.1 keep-alive, idle HTTP/2).
    #[arg(long, env = "TOLLGATE_IDLE_TIMEOUT_SECONDS", default_value_t = 75, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    idle_timeout_seconds: u64,
    /// Client connections open at once [default: half the open-files soft
    /// limit, less 64, so each can have an upstream connection]. At the
    /// limit, the connection idle longest makes room for a new one.
    #[arg(long, env = "TOLLGATE_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    max_connections: Option<u64>,
    /// MiB that all request bodies being read or held may take together;
    /// past it, a request gets 503 with Retry-After [default: 256, or four
    /// times max_request_size_mb if more].
    #[arg(long, env = "TOLLGATE_BODY_BUDGET_MB", value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    body_budget_mb: Option<u64>,
}

impl LimitArgs {
    fn connections(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            header_timeout: Duration::from_secs(self.header_timeout_seconds),
            idle_timeout: Duration::from_secs(self.idle_timeout_seconds),
            max_connections: self
                .max_connections
                .map_or(defaults.max_connections, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }

    fn bodies(&self, config: &config::Config) -> BodyLimits {
        let timeout = Duration::from_secs(self.body_timeout_seconds);
        let budget = match self.body_budget_mb {
            Some(mb) => usize::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX),
            None => gateway::default_body_limits(config).total(),
        };
        BodyLimits::new(budget, timeout)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check { config, strict }) => check(&config, strict),
        None => run(cli.serve),
    }
}

/// Serves on the runtime the flags choose. Under `per-core` the main thread
/// runs a single-threaded runtime of its own for what is not on the request
/// path (signals, reloads, the admin listener, telemetry export, the
/// fleet's spend), and each core a runtime on a thread of its own.
fn run(args: ServeArgs) -> ExitCode {
    let threads = args.worker_threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let mut builder = match args.runtime {
        RuntimeKind::PerCore => tokio::runtime::Builder::new_current_thread(),
        RuntimeKind::MultiThread if threads == 1 => tokio::runtime::Builder::new_current_thread(),
        RuntimeKind::MultiThread => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
    };
    match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(serve(args, threads)),
        Err(error) => {
            eprintln!("tollgate: cannot start the runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &std::path::Path, strict: bool) -> ExitCode {
    match config::load_file(path, &config::process_env) {
        Ok(Loaded { config, warnings }) => {
            for warning in &warnings {
                println!("warning: {warning}");
            }
            println!(
                "ok: {} ({} models, {} deployments, {})",
                path.display(),
                config.model_names.len(),
                config.deployments.len(),
                match (config.requires_key(), config.allow_unauthenticated) {
                    (true, _) => "keys required",
                    (false, false) => "no keys: serves on loopback only",
                    (false, true) => "no keys: serves anyone",
                }
            );
            // Which client formats each deployment serves, and how.
            for d in &config.deployments {
                println!(
                    "  {} model_list[{}] {}: {}",
                    d.model_name,
                    d.index,
                    d.label,
                    d.formats_summary()
                );
            }
            for d in &config.disabled {
                println!("  {} model_list[{}] disabled: {d}", d.model_name, d.index);
            }
            if strict && !config.disabled.is_empty() {
                eprintln!(
                    "{}: {} entr{} cannot be served (--strict)",
                    path.display(),
                    config.disabled.len(),
                    if config.disabled.len() == 1 { "y" } else { "ies" }
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("{}: {} problem(s)", path.display(), problems.len());
            for problem in problems {
                eprintln!("  {problem}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs, threads: usize) -> ExitCode {
    let _logs = logging::init(args.log_format);
    let Some(path) = args.config else {
        eprintln!("tollgate: no config given; pass --config PATH or set TOLLGATE_CONFIG");
        return ExitCode::FAILURE;
    };
    let loaded = match config::load_file(&path, &config::process_env) {
        Ok(loaded) => loaded,
        Err(problems) => {
            for problem in &problems {
                tracing::error!(at = %problem.at, "{}", problem.message);
            }
            tracing::error!(config = %path.display(), problems = problems.len(), "config is invalid; not starting");
            return ExitCode::FAILURE;
        }
    };
    for warning in &loaded.warnings {
        tracing::warn!(config = %path.display(), "{warning}");
    }
    let cores = if args.runtime == RuntimeKind::PerCore {
        threads
    } else {
        1
    };
    let listeners = match Listeners::bind(&args.host, args.port, cores) {
        Ok(listeners) => listeners,
        Err(error) => {
            tracing::error!(host = %args.host, port = args.port, %error, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let addr = listeners.local_addr();
    let config = loaded.config;
    if !config.requires_key() && !addr.ip().is_loopback() && !config.allow_unauthenticated {
        tracing::error!(
            %addr,
            "no master_key or client keys are configured, and this address is reachable beyond loopback; \
             set general_settings.master_key or tollgate.clients, listen on 127.0.0.1, \
             or set tollgate.allow_unauthenticated: true if that is really wanted"
        );
        return ExitCode::FAILURE;
    }
    let (models, keyed) = (config.model_names.len(), config.requires_key());
    // Every listener is bound before telemetry starts: a start that fails
    // after it would wait for its exporter on this very thread.
    let admin = match args.admin_port {
        Some(port) => match TcpListener::bind((args.admin_host.as_str(), port)).await {
            Ok(admin) => Some(admin),
            Err(error) => {
                tracing::error!(host = %args.admin_host, port, %error, "cannot listen for admin");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    // Exporters read the config's telemetry section at start only; a reload
    // that changes it says so (see `Reloader`).
    let telemetry = telemetry::init(&config.telemetry);
    let limits = args.limits.connections();
    let bodies = args.limits.bodies(&config);
    let gateway = Arc::new(Gateway::with_body_limits(config, bodies));
    // The first read of the fleet's spend ends before serving starts (within
    // the refresh interval: a backend that is down does not hold it up
    // longer); later reads run in a task of their own, off the request path.
    let _fleet = tollgate::budget::fleet::start(gateway.budgets().clone(), gateway.upstream().clone()).await;
    let watched = gateway.clone();
    telemetry::watch_cooldowns(move |report| {
        let now = tollgate::router::now_ms();
        for deployment in &watched.config().deployments {
            report(deployment, deployment.state.cooling(now).is_some());
        }
    });
    let watched = gateway.clone();
    telemetry::watch_disabled(move |report| {
        let config = watched.config();
        let mut providers: Vec<&'static str> = config.disabled.iter().map(|d| d.provider).collect();
        providers.sort_unstable();
        providers.dedup();
        for provider in providers {
            report(
                provider,
                config.disabled.iter().filter(|d| d.provider == provider).count() as u64,
            );
        }
    });
    // Watches the config's folder (and its secret files') and listens for SIGHUP.
    Reloader {
        path: path.clone(),
        gateway: gateway.clone(),
        loopback: addr.ip().is_loopback(),
    }
    .spawn(!args.no_watch);
    if let Some(admin) = admin {
        let admin_addr = admin.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tracing::info!(addr = %admin_addr, "admin listener (health only)");
        tokio::spawn(tollgate::server::serve_admin(admin, gateway.clone(), limits));
    }
    let shutdown = shutdown_signal();
    let runtime = match args.runtime {
        RuntimeKind::PerCore if listeners.shared_socket() => "per-core, one shared socket",
        RuntimeKind::PerCore => "per-core",
        RuntimeKind::MultiThread => "multi-thread",
    };
    tracing::info!(
        %addr,
        config = %path.display(),
        models,
        keyed,
        runtime,
        threads,
        "tollgate listening"
    );
    tracing::info!(
        max_connections = limits.max_connections,
        body_budget_bytes = gateway.body_limits().total(),
        "limits"
    );
    let drain = Duration::from_secs(args.drain_seconds);
    let served = match args.runtime {
        RuntimeKind::PerCore => cores::serve(listeners, gateway, shutdown, drain, limits).await,
        RuntimeKind::MultiThread => match listeners.into_single() {
            Ok(listener) => Ok(tollgate::server::serve_with(listener, gateway, shutdown, drain, limits).await),
            Err(error) => Err(error),
        },
    };
    let drained = match served {
        Ok(drained) => drained,
        Err(error) => {
            tracing::error!(%error, "cannot start serving");
            telemetry.shutdown().await;
            return ExitCode::FAILURE;
        }
    };
    telemetry.shutdown().await;
    tracing::info!(drained, "tollgate stopped");
    ExitCode::SUCCESS
}

/// Completes on SIGTERM (Kubernetes) or SIGINT (Ctrl-C). A task starts
/// waiting for them at once, so a signal that arrives right after start-up,
/// before the server polls anything, is not lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    tokio::spawn(async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        let _ = tx.send(());
    });
    async move {
        let _ = rx.await;
    }
}
