//! Peer gateways given by path (`--peer KIND=PATH`): each kind's config,
//! generated in front of the mock, and its start-up, so that a peer stands
//! beside nginx and tollgate in the `default` and `floor` sections.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::client::chat_body;
use crate::procs::{free_port, http_status, Placement, Proc};
use crate::setup::{log_tail, Bench, Kind};

/// The peers this harness can configure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerKind {
    /// agentgateway with an `ai` backend (OpenAI provider): it parses the
    /// body, rewrites the model and injects the upstream key, as tollgate does.
    Agentgateway,
    /// agentgateway with a plain `host` backend: a proxy that reads no JSON,
    /// its floor.
    AgentgatewayHttp,
}

impl PeerKind {
    pub const ALL: [PeerKind; 2] = [PeerKind::Agentgateway, PeerKind::AgentgatewayHttp];

    /// Its name in `--peer` and its key in the results.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Agentgateway => "agentgateway",
            PeerKind::AgentgatewayHttp => "agentgateway-http",
        }
    }

    /// What the column holds, for the tables.
    pub fn label(self) -> &'static str {
        match self {
            PeerKind::Agentgateway => "agentgateway (AI backend)",
            PeerKind::AgentgatewayHttp => "agentgateway (HTTP backend)",
        }
    }
}

/// A peer asked for on the command line.
#[derive(Clone, Debug)]
pub struct Peer {
    pub kind: PeerKind,
    pub binary: PathBuf,
}

/// The `--peer` values, checked: a known kind, an existing file, each kind once.
pub fn parse_all(specs: &[String]) -> Result<Vec<Peer>, String> {
    let mut peers: Vec<Peer> = Vec::new();
    for spec in specs {
        let peer = parse(spec)?;
        if peers.iter().any(|p| p.kind == peer.kind) {
            return Err(format!("--peer {}: that kind is given twice", peer.kind.name()));
        }
        peers.push(peer);
    }
    Ok(peers)
}

fn parse(spec: &str) -> Result<Peer, String> {
    let kinds = PeerKind::ALL.map(PeerKind::name).join(", ");
    let (kind, path) = spec
        .split_once('=')
        .ok_or_else(|| format!("--peer {spec}: expected KIND=PATH (kinds: {kinds})"))?;
    let kind = PeerKind::ALL
        .into_iter()
        .find(|k| k.name() == kind)
        .ok_or_else(|| format!("--peer {spec}: unknown kind {kind:?} (kinds: {kinds})"))?;
    let binary = PathBuf::from(path);
    if !binary.is_file() {
        return Err(format!("--peer {spec}: no file at {path}"));
    }
    Ok(Peer { kind, binary })
}

/// A peer serving in front of the mock.
pub struct RunningPeer {
    pub kind: PeerKind,
    pub proc: Proc,
    pub port: u16,
    /// The first line of `--version`, when it has one.
    pub version: Option<String>,
}

impl RunningPeer {
    /// Where the load goes: the same OpenAI path as tollgate's.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/chat/completions", self.port)
    }
}

/// Starts `peer` in front of the mock on `mock_port`, on `cpus` (`None`:
/// not pinned), with its config in a folder named after `tag`; ready once
/// a chat request through it answers 200.
pub fn start(bench: &Bench, peer: &Peer, mock_port: u16, cpus: Option<&str>, tag: &str) -> Result<RunningPeer, String> {
    let name = format!("{tag}-{}", peer.kind.name());
    let (port, ready_port) = (free_port(), free_port());
    let text = agentgateway_config(peer.kind, port, mock_port, ready_port, free_port(), free_port());
    let dir = bench.path(&name);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let config = dir.join("config.yaml");
    std::fs::write(&config, text).map_err(|e| e.to_string())?;
    let log = bench.path(&format!("{name}.log"));
    let mut command = Placement::command(cpus, &peer.binary);
    command.arg("-f").arg(&config);
    // Its addresses come from the file, and its thread count from the CPUs it
    // may use (one when pinned to one), not from a caller's environment.
    for var in [
        "ADMIN_ADDR",
        "STATS_ADDR",
        "READINESS_ADDR",
        "WORKER_THREADS",
        "CPU_LIMIT",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    let started = Instant::now();
    let mut proc = Proc::spawn(command, &log).map_err(|e| format!("cannot start {}: {e}", peer.kind.name()))?;
    let failed = || {
        let config = std::fs::read_to_string(&config).unwrap_or_default();
        format!(
            "{} did not start with this config:\n{config}its log {}",
            peer.kind.name(),
            log_tail(&log)
        )
    };
    // Ready, then a 200 through the route: the config does what we want.
    let body = chat_body(Kind::Json.model(), false);
    let serving = || {
        http_status(ready_port, "GET", "/healthz/ready", "") == Some(200)
            && http_status(port, "POST", "/v1/chat/completions", &body) == Some(200)
    };
    while !serving() {
        // A config it rejects ends the process: say so at once.
        if !proc.alive() || started.elapsed() > Duration::from_secs(20) {
            return Err(failed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(RunningPeer {
        kind: peer.kind,
        proc,
        port,
        version: version(&peer.binary),
    })
}

fn version(binary: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// agentgateway's local config (schema `schema/config.json` of its
/// repository; the `binds` form, read by every release since 0.10): one
/// HTTP listener on `port` whose one route goes to the mock, admin, stats and
/// readiness on loopback ports of their own (the defaults, 15000/15020/15021,
/// would collide between runs). The upstream key goes in through a route
/// policy, and the client's `authorization` header is not checked: the peer
/// does no client authentication, which tollgate does (its master key).
pub fn agentgateway_config(
    kind: PeerKind,
    port: u16,
    mock_port: u16,
    ready_port: u16,
    admin_port: u16,
    stats_port: u16,
) -> String {
    let backend = match kind {
        // `hostOverride` without `backendTLS` is plain HTTP, and keeps the
        // client's path, which the mock answers.
        PeerKind::Agentgateway => format!(
            "      - ai:\n          name: mock\n          hostOverride: 127.0.0.1:{mock_port}\n          provider:\n            openAI:\n              model: mock-{model}\n",
            model = Kind::Json.model(),
        ),
        PeerKind::AgentgatewayHttp => format!("      - host: 127.0.0.1:{mock_port}\n"),
    };
    let auth = match kind {
        PeerKind::Agentgateway => "      policies:\n        backendAuth:\n          key: sk-upstream-bench\n",
        PeerKind::AgentgatewayHttp => "",
    };
    format!(
        "# Generated by the gateway benchmark (peer {name}).\nconfig:\n  adminAddr: 127.0.0.1:{admin_port}\n  statsAddr: 127.0.0.1:{stats_port}\n  readinessAddr: 127.0.0.1:{ready_port}\nbinds:\n- port: {port}\n  listeners:\n  - protocol: HTTP\n    routes:\n    - backends:\n{backend}{auth}",
        name = kind.name(),
    )
}
