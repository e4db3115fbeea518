//! The default configuration on the whole machine (issue 15's targets):
//! nothing pinned, nginx with a worker per CPU, tollgate with default flags,
//! optional tollgate variants and peer gateways, in interleaved rounds of wrk
//! at 32 connections and the 1-connection latency, with direct to the mock
//! for the added latency; every ratio to nginx taken within its round.

use serde_json::{json, Map, Value};

use crate::client::Format;
use crate::peers::{self, RunningPeer};
use std::time::{Duration, Instant};

use crate::procs::{free_port, wait_ok, Placement, Proc};
use crate::report::medians;
use crate::run::client_on;
use crate::setup::{tollgate_config, Bench, Kind, Tollgate, Via};
use crate::wrk::{self, Load};

/// Issue 15: tollgate's CPU per request at most this × nginx's, at 32 connections.
const CPU_RATIO_MAX: f64 = 1.3;
/// Issue 15: tollgate's requests per second at least this × nginx's, at 32 connections.
const RPS_RATIO_MIN: f64 = 0.8;
/// Issue 15: tollgate's added 1-connection p50 at most nginx's plus this (µs).
const P50_OVER_NGINX_MAX: f64 = 10.0;
/// Issue 15: tollgate's added 1-connection p99 at most nginx's plus this (µs).
const P99_OVER_NGINX_MAX: f64 = 50.0;

/// One column: its key in the results, what the tables call it, where the
/// load goes and whose CPU time counts.
struct Column<'a> {
    name: String,
    about: Value,
    url: String,
    proc: Option<&'a Proc>,
}

/// The processes of the section, started unpinned.
struct Running {
    _mock: Proc,
    mock_port: u16,
    nginx: Option<(Proc, u16)>,
    tollgate: Tollgate,
    variants: Vec<(String, Tollgate)>,
    peers: Vec<RunningPeer>,
    /// The bare hyper proxy (`bare.rs`) on a multi-threaded runtime and
    /// thread-per-core: the framework's floor under each of tollgate's designs.
    bare: Vec<(&'static str, &'static str, Proc, u16)>,
}

/// The whole section; its results go under `default` in gateway.json.
pub fn default(bench: &Bench) -> Result<Value, String> {
    let peers = peers::parse_all(&bench.args.peers)?;
    let running = start(bench, &peers)?;
    let columns = columns(&running);
    let rounds = bench.args.rounds;
    let mut per: Vec<Vec<Value>> = vec![Vec::new(); columns.len()];
    for round in 1..=rounds {
        for (i, column) in columns.iter().enumerate() {
            eprintln!(
                "== default configuration, unpinned: round {round}/{rounds}, {}",
                column.name
            );
            per[i].push(measure(bench, column)?);
        }
    }
    let mut results = Map::new();
    let mut about = Vec::new();
    for (column, values) in columns.iter().zip(&per) {
        results.insert(column.name.clone(), medians(values.clone()));
        about.push(column.about.clone());
    }
    Ok(json!({
        "placement": "unpinned",
        "rounds": rounds,
        "columns": about,
        "results": results,
        "vs_direct": against(&columns, &per, "direct", vs_direct),
        "vs_nginx": against(&columns, &per, "nginx", vs_base),
        "tollgate_vs_peer": tollgate_vs_peers(&columns, &per),
    }))
}

fn start(bench: &Bench, peers: &[peers::Peer]) -> Result<Running, String> {
    let (mock, mock_port) = bench.mock_on("default-mock", None)?;
    let nginx = bench.nginx_workers(mock_port, None, "auto")?;
    let start_tollgate = |name: &str, args: &[&str]| {
        let config = bench.config(name, &tollgate_config(mock_port, 600))?;
        bench.start_tollgate(name, config, None, &[], args)
    };
    let tollgate = start_tollgate("default-tollgate", &[])?;
    let mut variants = Vec::new();
    for (i, args) in bench.args.default_variants.iter().enumerate() {
        let split: Vec<&str> = args.split_whitespace().collect();
        variants.push((
            args.clone(),
            start_tollgate(&format!("default-variant-{}", i + 1), &split)?,
        ));
    }
    let mut running_peers = Vec::new();
    for peer in peers {
        running_peers.push(peers::start(bench, peer, mock_port, None, "default")?);
    }
    let mut bare = Vec::new();
    if bench.args.default_bare {
        for (name, label, extra) in [
            ("bare-multi-thread", "bare hyper proxy, multi-thread", None),
            ("bare-per-core", "bare hyper proxy, per-core", Some("--per-core")),
        ] {
            let port = free_port();
            let mut command = Placement::command(None, &bench.exe);
            command.args([
                "bare",
                "--port",
                &port.to_string(),
                "--upstream",
                &mock_port.to_string(),
            ]);
            command.args(extra);
            let proc = Proc::spawn(command, &bench.path(&format!("default-{name}.log"))).map_err(|e| e.to_string())?;
            wait_ok(port, "/ready", Instant::now(), Duration::from_secs(10))
                .ok_or_else(|| format!("the {label} did not start"))?;
            bare.push((name, label, proc, port));
        }
    }
    Ok(Running {
        _mock: mock,
        mock_port,
        nginx,
        tollgate,
        variants,
        peers: running_peers,
        bare,
    })
}

/// direct, nginx, tollgate, the variants, the peers: the order of each round.
fn columns(r: &Running) -> Vec<Column<'_>> {
    let url = |via: Via, port: u16| via.url(port, Kind::Json);
    let mut columns = vec![Column {
        name: "direct".into(),
        about: json!({ "name": "direct", "label": "direct" }),
        url: url(Via::Direct, r.mock_port),
        proc: None,
    }];
    if let Some((proc, port)) = &r.nginx {
        // The master and its workers: `worker_processes auto` is one per CPU.
        let workers = proc.pids().len().saturating_sub(1);
        columns.push(Column {
            name: "nginx".into(),
            about: json!({ "name": "nginx", "label": format!("nginx ({workers} workers)"), "workers": workers }),
            url: url(Via::Nginx, *port),
            proc: Some(proc),
        });
    }
    columns.push(tollgate_column("tollgate".into(), "tollgate".into(), "", &r.tollgate));
    for (i, (args, t)) in r.variants.iter().enumerate() {
        columns.push(tollgate_column(
            format!("variant-{}", i + 1),
            format!("tollgate `{args}`"),
            args,
            t,
        ));
    }
    for (name, label, proc, port) in &r.bare {
        columns.push(Column {
            name: (*name).into(),
            about: json!({ "name": name, "label": label, "threads": proc.threads() }),
            url: url(Via::Nginx, *port),
            proc: Some(proc),
        });
    }
    for peer in &r.peers {
        columns.push(Column {
            name: peer.kind.name().into(),
            about: json!({
                "name": peer.kind.name(),
                "label": peer.kind.label(),
                "version": peer.version,
                "threads": peer.proc.threads(),
                "idle_rss_kib": peer.proc.rss_kib(),
            }),
            url: peer.url(),
            proc: Some(&peer.proc),
        });
    }
    columns
}

fn tollgate_column<'a>(name: String, label: String, args: &str, t: &'a Tollgate) -> Column<'a> {
    Column {
        about: json!({
            "name": name,
            "label": label,
            "args": args,
            "threads": t.proc.threads(),
            "idle_rss_kib": t.proc.rss_kib(),
        }),
        name,
        url: Via::Tollgate.url(t.port, Kind::Json),
        proc: Some(&t.proc),
    }
}

/// One round for one column: wrk at 32 connections, then 1 connection with
/// the Rust client, both unpinned like everything else here.
fn measure(bench: &Bench, column: &Column<'_>) -> Result<Value, String> {
    let load = Load {
        model: Kind::Json.model(),
        format: Format::Chat,
        stream: false,
    };
    let c32 = wrk::run_on(bench, None, &column.url, load, 32, bench.args.secs, column.proc)?;
    if let Some(n) = c32["errors"].as_u64().filter(|n| *n > 0) {
        return Err(format!("{} answered {n} requests with errors: {c32}", column.name));
    }
    let requests = bench.args.requests.to_string();
    let args = ["load", "--url", &column.url, "--conns", "1", "--requests", &requests];
    let c1 = client_on(bench, None, &args)?;
    Ok(json!({ "c32": c32, "c1": c1 }))
}

fn field(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64).filter(|x| x.is_finite())
}

/// Each column but `base` against `base`, round by round (the rounds are
/// interleaved, so each comparison meets the same machine load); the medians.
fn against(columns: &[Column<'_>], per: &[Vec<Value>], base: &str, compare: fn(&Value, &Value) -> Value) -> Value {
    let Some(b) = columns.iter().position(|c| c.name == base) else {
        return Value::Null;
    };
    let mut out = Map::new();
    for (i, column) in columns.iter().enumerate() {
        if i == b || column.name == "direct" {
            continue;
        }
        let rounds = per[i].iter().zip(&per[b]).map(|(t, b)| compare(t, b)).collect();
        out.insert(column.name.clone(), medians(rounds));
    }
    Value::Object(out)
}

/// Latency a proxy adds over the direct call, in the same round.
fn vs_direct(t: &Value, d: &Value) -> Value {
    let diff = |p: &str| field(t, p).zip(field(d, p)).map(|(t, d)| t - d);
    json!({
        "c1_p50_added_us": diff("/c1/p50_us"),
        "c1_p99_added_us": diff("/c1/p99_us"),
    })
}

/// Issue 15's four figures of `t` against a base (nginx, or a peer), in
/// the same round. "Added over direct minus the base's added" is the plain
/// difference, as direct cancels.
fn vs_base(t: &Value, base: &Value) -> Value {
    let ratio = |p: &str| field(t, p).zip(field(base, p)).map(|(t, b)| t / b);
    let diff = |p: &str| field(t, p).zip(field(base, p)).map(|(t, b)| t - b);
    json!({
        "c32_cpu_per_req_ratio": ratio("/c32/proxy_cpu_us_per_req"),
        "c32_rps_ratio": ratio("/c32/rps"),
        "c1_p50_minus_base_us": diff("/c1/p50_us"),
        "c1_p99_minus_base_us": diff("/c1/p99_us"),
    })
}

/// tollgate (default flags) against each peer, in the same round.
fn tollgate_vs_peers(columns: &[Column<'_>], per: &[Vec<Value>]) -> Value {
    let Some(t) = columns.iter().position(|c| c.name == "tollgate") else {
        return Value::Null;
    };
    let mut out = Map::new();
    for kind in peers::PeerKind::ALL {
        let Some(p) = columns.iter().position(|c| c.name == kind.name()) else {
            continue;
        };
        let rounds = per[t].iter().zip(&per[p]).map(|(t, p)| vs_base(t, p)).collect();
        out.insert(kind.name().into(), medians(rounds));
    }
    Value::Object(out)
}

fn num(x: Option<f64>, digits: usize) -> String {
    x.map_or("–".into(), |x| format!("{x:.digits$}"))
}

/// The section's two tables (three with a peer), markdown like the others.
pub fn print(r: &Value) {
    let d = &r["default"];
    let Some(columns) = d["columns"].as_array() else {
        return;
    };
    let names: Vec<&str> = columns.iter().filter_map(|c| c["name"].as_str()).collect();
    let labels: Vec<&str> = columns.iter().filter_map(|c| c["label"].as_str()).collect();
    let rounds = d["rounds"].as_u64().unwrap_or(0);
    println!(
        "\n| default configuration, nothing pinned (median of {rounds} rounds) | {} |",
        labels.join(" | ")
    );
    println!("|---|{}", "---:|".repeat(labels.len()));
    let row = |label: &str, digits: usize, get: &dyn Fn(&str) -> Option<f64>| {
        let cells: Vec<String> = names.iter().map(|n| num(get(n), digits)).collect();
        println!("| {label} | {} |", cells.join(" | "));
    };
    let result = |pointer: &'static str| move |n: &str| field(&d["results"][n], pointer);
    row("32 conns: req/s", 0, &result("/c32/rps"));
    row("32 conns: p50 µs", 0, &result("/c32/p50_us"));
    row("32 conns: p99 µs", 0, &result("/c32/p99_us"));
    row("32 conns: proxy CPU µs/req", 1, &result("/c32/proxy_cpu_us_per_req"));
    row("32 conns: proxy CPU use (cores)", 2, &result("/c32/proxy_cpu_util"));
    row("1 conn: p50 µs", 1, &result("/c1/p50_us"));
    row("1 conn: p99 µs", 1, &result("/c1/p99_us"));
    let added = |pointer: &'static str| move |n: &str| field(&d["vs_direct"][n], pointer);
    row("1 conn: p50 added over direct µs", 1, &added("/c1_p50_added_us"));
    row("1 conn: p99 added over direct µs", 1, &added("/c1_p99_added_us"));
    let about = |key: &'static str, scale: f64| {
        move |n: &str| {
            let column = columns.iter().find(|c| c["name"] == n)?;
            column[key].as_f64().map(|x| x / scale)
        }
    };
    row("threads, idle", 0, &about("threads", 1.0));
    row("RSS idle (MiB)", 1, &about("idle_rss_kib", 1024.0));
    print_vs(d, columns, "vs_nginx", "against nginx");
    print_vs(d, columns, "tollgate_vs_peer", "tollgate against a peer");
}

/// The ratios to nginx (or tollgate's to each peer), per column, with
/// issue 15's targets judged on tollgate with default flags.
fn print_vs(d: &Value, columns: &[Value], key: &str, title: &str) {
    let Some(map) = d[key].as_object().filter(|m| !m.is_empty()) else {
        return;
    };
    let peers = key == "tollgate_vs_peer";
    let label = |name: &str| {
        let column = columns.iter().find(|c| c["name"] == name);
        let label = column.and_then(|c| c["label"].as_str()).unwrap_or(name);
        if peers {
            format!("tollgate ÷ {label}")
        } else {
            label.to_string()
        }
    };
    // The columns' order (the map's own is alphabetical).
    let names: Vec<&str> = columns
        .iter()
        .filter_map(|c| c["name"].as_str())
        .filter(|n| map.contains_key(*n))
        .collect();
    let heads: Vec<String> = names.iter().map(|n| label(n)).collect();
    let judged = !peers && map.contains_key("tollgate");
    let tail = if judged { " target (tollgate) | |" } else { "" };
    println!(
        "\n| {title}, same round (median of rounds) | {} |{tail}",
        heads.join(" | ")
    );
    let tail = if judged { "---|---|" } else { "" };
    println!("|---|{}{tail}", "---:|".repeat(heads.len()));
    type Check = fn(f64) -> bool;
    let other = if peers { "the peer's" } else { "nginx's" };
    let figures: [(String, &str, usize, &str, Check); 4] = [
        (
            format!("32 conns: CPU µs/req ÷ {other}"),
            "c32_cpu_per_req_ratio",
            2,
            "≤ 1.3",
            |x| x <= CPU_RATIO_MAX,
        ),
        (
            format!("32 conns: req/s ÷ {other}"),
            "c32_rps_ratio",
            2,
            "≥ 0.8",
            |x| x >= RPS_RATIO_MIN,
        ),
        (
            format!("1 conn: p50 µs − {other}"),
            "c1_p50_minus_base_us",
            1,
            "≤ +10 µs",
            |x| x <= P50_OVER_NGINX_MAX,
        ),
        (
            format!("1 conn: p99 µs − {other}"),
            "c1_p99_minus_base_us",
            1,
            "≤ +50 µs",
            |x| x <= P99_OVER_NGINX_MAX,
        ),
    ];
    let blank = if judged { " | |" } else { "" };
    for (what, field_name, digits, target, check) in figures {
        let pointer = format!("/{field_name}");
        let value = |n: &str| map.get(n).and_then(|v| field(v, &pointer));
        let cells: Vec<String> = names.iter().map(|n| num(value(n), digits)).collect();
        let tail = if judged {
            let verdict = match value("tollgate").map(check) {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "–",
            };
            format!(" {target} | {verdict} |")
        } else {
            String::new()
        };
        println!("| {what} | {} |{tail}", cells.join(" | "));
        // Unpinned, a round's figures depend on where the scheduler put the
        // processes (see BENCHMARKS.md): show the spread behind the median.
        let each = |n: &str| {
            let rounds = map.get(n).and_then(|v| v["rounds"].as_array())?;
            let values: Vec<String> = rounds.iter().map(|r| num(field(r, &pointer), digits)).collect();
            (values.len() > 1).then(|| values.join(" / "))
        };
        let cells: Vec<Option<String>> = names.iter().map(|n| each(n)).collect();
        if cells.iter().any(Option::is_some) {
            let cells: Vec<String> = cells.into_iter().map(Option::unwrap_or_default).collect();
            println!("| … each round | {} |{blank}", cells.join(" | "));
        }
    }
}
