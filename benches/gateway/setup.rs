//! The pieces of a run: the mock upstream, nginx with `proxy_pass` to it, and
//! tollgate with a generated config in front of it, each on a fresh port in
//! one temporary folder.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::procs::{free_port, wait_ok, Placement, Proc};
use crate::RunArgs;

/// The upstream behaviours the clients ask for: a model name for tollgate,
/// and the mock path it maps to (used directly by the direct and nginx runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Instant JSON completion.
    Json,
    /// A short stream (2 chunks 1 ms apart): time to first chunk.
    Ttfc,
    /// 50 chunks 10 ms apart: do chunks arrive as sent?
    Chunks,
    /// A chunk a second for ten minutes: held-open streams.
    Slow,
}

pub const CHUNKS: usize = 50;
pub const CHUNK_EVERY_MS: u64 = 10;

impl Kind {
    pub fn model(self) -> &'static str {
        match self {
            Kind::Json => "fast",
            Kind::Ttfc => "ttfc",
            Kind::Chunks => "chunks",
            Kind::Slow => "slow",
        }
    }

    fn mock_prefix(self) -> String {
        match self {
            Kind::Json => "/json/v1".into(),
            Kind::Ttfc => "/sse/2/1/v1".into(),
            Kind::Chunks => format!("/sse/{CHUNKS}/{CHUNK_EVERY_MS}/v1"),
            Kind::Slow => "/sse/600/1000/v1".into(),
        }
    }
}

/// What a client can be pointed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Direct,
    Nginx,
    Tollgate,
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Nginx => "nginx",
            Via::Tollgate => "tollgate",
        }
    }

    /// The URL for `kind` on a server of this sort listening on `port`.
    pub fn url(self, port: u16, kind: Kind) -> String {
        match self {
            Via::Direct | Via::Nginx => format!("http://127.0.0.1:{port}{}/chat/completions", kind.mock_prefix()),
            Via::Tollgate => format!("http://127.0.0.1:{port}/v1/chat/completions"),
        }
    }
}

/// Shared facts of a run.
pub struct Bench {
    pub args: RunArgs,
    pub dir: tempfile::TempDir,
    pub place: Placement,
    /// This binary: the mock and the clients are its subcommands.
    pub exe: PathBuf,
    pub tollgate: PathBuf,
    pub nginx: Option<PathBuf>,
    pub wrk: Option<PathBuf>,
}

/// A running tollgate and where its config and log are.
pub struct Tollgate {
    pub proc: Proc,
    pub port: u16,
    pub log: PathBuf,
    /// From spawn to the first 200 on `/health/liveliness`.
    pub ready_after: Duration,
}

impl Bench {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn mock(&self, name: &str) -> Result<(Proc, u16), String> {
        self.mock_on(name, self.place.load.as_deref())
    }

    /// [`Bench::mock`] on `cpus` (`None`: not pinned).
    pub fn mock_on(&self, name: &str, cpus: Option<&str>) -> Result<(Proc, u16), String> {
        let port = free_port();
        let mut command = Placement::command(cpus, &self.exe);
        command.args(["mock", "--port", &port.to_string()]);
        let proc = Proc::spawn(command, &self.path(&format!("{name}.log"))).map_err(|e| e.to_string())?;
        wait_ok(port, "/ready", Instant::now(), Duration::from_secs(10)).ok_or("the mock did not start")?;
        Ok((proc, port))
    }

    /// Starts tollgate in front of the mock on `mock_port`, pinned to the proxy CPUs.
    pub fn tollgate(
        &self,
        name: &str,
        mock_port: u16,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Tollgate, String> {
        let config = self.config(name, &tollgate_config(mock_port, 600))?;
        self.start_tollgate(name, config, self.place.proxy.as_deref(), env, args)
    }

    /// Writes a config into a folder of its own: each tollgate watches its
    /// config's folder, and must not see another's rewrites.
    pub fn config(&self, name: &str, text: &str) -> Result<PathBuf, String> {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join("proxy_config.yaml");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        Ok(path)
    }

    pub fn start_tollgate(
        &self,
        name: &str,
        config: PathBuf,
        cpus: Option<&str>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Tollgate, String> {
        self.start_binary(&self.tollgate, name, config, cpus, env, args)
    }

    /// [`Bench::start_tollgate`] with another tollgate binary.
    pub fn start_binary(
        &self,
        binary: &std::path::Path,
        name: &str,
        config: PathBuf,
        cpus: Option<&str>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Tollgate, String> {
        let port = free_port();
        let log = self.path(&format!("{name}.log"));
        let mut command = Placement::command(cpus, binary);
        command
            .arg("--config")
            .arg(&config)
            .args(["--port", &port.to_string(), "--drain-seconds", "1"])
            .args(args);
        for var in [
            "RUST_LOG",
            "TOLLGATE_CONFIG",
            "TOLLGATE_LOG_FORMAT",
            "TOLLGATE_NO_WATCH",
        ] {
            command.env_remove(var);
        }
        for var in OTEL_VARS {
            command.env_remove(var);
        }
        command.envs(env.iter().copied());
        let started = Instant::now();
        let proc = Proc::spawn(command, &log).map_err(|e| format!("cannot start tollgate: {e}"))?;
        let ready_after = wait_ok(port, "/health/liveliness", started, Duration::from_secs(20))
            .ok_or_else(|| format!("tollgate did not start: {}", log_tail(&log)))?;
        Ok(Tollgate {
            proc,
            port,
            log,
            ready_after,
        })
    }

    /// nginx with one worker, `proxy_pass` to the mock over a keep-alive
    /// pool, pinned to `cpus`.
    pub fn nginx(&self, mock_port: u16, cpus: Option<&str>) -> Result<Option<(Proc, u16)>, String> {
        self.nginx_workers(mock_port, cpus, "1")
    }

    /// [`Bench::nginx`] with `worker_processes` set to `workers` (`auto`:
    /// one per CPU it may use).
    pub fn nginx_workers(
        &self,
        mock_port: u16,
        cpus: Option<&str>,
        workers: &str,
    ) -> Result<Option<(Proc, u16)>, String> {
        let Some(nginx) = &self.nginx else { return Ok(None) };
        let port = free_port();
        let root = self.path(&format!("nginx-{port}"));
        for dir in ["", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).map_err(|e| e.to_string())?;
        }
        let conf = root.join("nginx.conf");
        std::fs::write(&conf, nginx_config(&root, port, mock_port, workers)).map_err(|e| e.to_string())?;
        let mut command = Placement::command(cpus, nginx);
        command.arg("-p").arg(&root).arg("-c").arg(&conf);
        let proc = Proc::spawn(command, &root.join("stdout.log")).map_err(|e| e.to_string())?;
        wait_ok(port, "/ready", Instant::now(), Duration::from_secs(10)).ok_or("nginx did not start")?;
        Ok(Some((proc, port)))
    }
}

/// The last lines of a child's log, for an error message: the temporary
/// folder that holds the log is gone once the run stops.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("\n");
    format!("{}:\n{tail}", log.display())
}

/// Telemetry variables cleared from tollgate's environment unless a run sets them.
pub const OTEL_VARS: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
];

/// One entry per behaviour, a master key so authentication runs, and an
/// upstream key so the `authorization` header is built. `timeout` varies
/// the text for reloads.
pub fn tollgate_config(mock_port: u16, timeout: u32) -> String {
    let mut text = String::from("# Generated by the gateway benchmark.\nmodel_list:\n");
    for kind in [Kind::Json, Kind::Ttfc, Kind::Chunks, Kind::Slow] {
        text.push_str(&format!(
            "  - model_name: {model}\n    litellm_params:\n      model: openai/mock-{model}\n      api_base: http://127.0.0.1:{mock_port}{prefix}\n      api_key: sk-upstream-bench\n      timeout: {timeout}\n",
            model = kind.model(),
            prefix = kind.mock_prefix(),
        ));
    }
    text.push_str(&format!("general_settings:\n  master_key: {}\n", crate::client::KEY));
    text
}

/// `workers` worker processes (1 where the proxy's core budget is one CPU,
/// `auto` for the default-configuration section), no access log, a
/// keep-alive upstream pool, no response buffering (SSE goes out as it
/// comes, as tollgate does), and no per-connection request cap (tollgate
/// has none).
fn nginx_config(root: &Path, port: u16, mock_port: u16, workers: &str) -> String {
    let root = root.display();
    format!(
        r#"worker_processes {workers};
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
worker_rlimit_nofile 16384;
events {{
    worker_connections 8192;
}}
http {{
    access_log off;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    client_max_body_size 32m;
    client_body_buffer_size 1m;
    upstream mock {{
        server 127.0.0.1:{mock_port};
        keepalive 1024;
        keepalive_requests 10000000;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"#
    )
}
