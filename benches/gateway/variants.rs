//! tollgate against itself: start-up time and idle memory, access log on and
//! off, OTLP export on and off, throughput while reloading, reload latency,
//! concurrent streams held, and a CPU profile under load.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::client::chat_body;
use crate::procs::{free_port, http_get, http_status, wait_ok, Placement, Proc};
use crate::report::{median, medians};
use crate::run::{check_errors, client, Trio};
use crate::setup::{tollgate_config, Bench, Kind, Tollgate, Via, OTEL_VARS};
use crate::wrk;

/// The watcher's debounce (tollgate's `config::watch::DEBOUNCE`).
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Exec to the first 200 on `/health/liveliness`, and resident memory once idle,
/// over ten starts (not pinned: a real start gets every CPU).
pub fn startup(bench: &Bench) -> Result<Value, String> {
    let (_mock, mock_port) = bench.mock("startup-mock")?;
    let config = bench.config("startup", &tollgate_config(mock_port, 600))?;
    let (mut ready, mut rss) = (Vec::new(), Vec::new());
    for i in 0..10 {
        eprintln!("== start-up {}/10", i + 1);
        let t = bench.start_tollgate(&format!("startup-{i}"), config.clone(), None, &[], &[])?;
        ready.push(t.ready_after.as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(300));
        rss.push(t.proc.rss_kib() as f64);
    }
    Ok(json!({
        "exec_to_serving_ms": { "p50": median(&ready), "min": min(&ready), "max": max(&ready), "all": ready },
        "idle_rss_kib": median(&rss),
    }))
}

/// An idle tollgate should do nothing: its CPU use and config reloads
/// (from `/health/readiness`) over three quiet seconds.
pub fn idle(t: &Tollgate) -> Value {
    let reloads = || {
        let status: Value = serde_json::from_str(&http_get(t.port, "/health/readiness")?).ok()?;
        let c = &status["config"];
        Some(
            ["reloads_ok", "reloads_unchanged", "reloads_failed"]
                .iter()
                .filter_map(|k| c[k].as_u64())
                .sum::<u64>(),
        )
    };
    let (before, cpu) = (reloads(), t.proc.cpu());
    let window = Duration::from_secs(3);
    std::thread::sleep(window);
    let used = t.proc.cpu().saturating_sub(cpu);
    let per_s = reloads()
        .zip(before)
        .map(|(after, before)| (after - before) as f64 / window.as_secs_f64());
    json!({
        "reloads_per_s": per_s,
        "cpu_pct": used.as_secs_f64() / window.as_secs_f64() * 100.0,
        "rss_kib": t.proc.rss_kib(),
    })
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// One proxy under comparison: its name in the results, the URL to load,
/// and the process whose CPU time is counted.
type Target<'a> = (&'a str, String, &'a Proc);

/// A tollgate as a [`Target`].
fn tollgate<'a>(name: &'a str, t: &'a Tollgate) -> Target<'a> {
    (name, Via::Tollgate.url(t.port, Kind::Json), &t.proc)
}

/// Interleaved rounds over named targets: wrk at 32 connections (and the
/// 1-connection latency when `latency`); the medians by name.
fn compare(bench: &Bench, what: &str, targets: &[Target<'_>], latency: bool) -> Result<Value, String> {
    let mut per: Vec<Vec<Value>> = vec![Vec::new(); targets.len()];
    let requests = bench.args.requests.to_string();
    for round in 1..=bench.args.rounds {
        for (i, (name, url, proc)) in targets.iter().enumerate() {
            eprintln!("== {what}: round {round}/{}, {name}", bench.args.rounds);
            let c32 = wrk::run(bench, url, Kind::Json.model(), 32, bench.args.secs, Some(proc))?;
            if let Some(n) = c32["errors"].as_u64().filter(|n| *n > 0) {
                return Err(format!("{name} answered {n} requests with errors: {c32}"));
            }
            let mut value = json!({ "c32": c32 });
            if latency {
                value["c1"] = client(bench, &["load", "--url", url, "--conns", "1", "--requests", &requests])?;
            }
            per[i].push(value);
        }
    }
    let mut out = Map::new();
    for ((name, _, _), values) in targets.iter().zip(per) {
        out.insert((*name).into(), medians(values));
    }
    Ok(Value::Object(out))
}

/// The access log line per request (default `info`) against `RUST_LOG=warn`.
pub fn access_log(bench: &Bench, trio: &Trio) -> Result<Value, String> {
    let quiet = bench.tollgate("quiet", trio.mock_port, &[("RUST_LOG", "warn")], &[])?;
    let targets = [tollgate("on", &trio.tollgate), tollgate("off", &quiet)];
    compare(bench, "access log", &targets, true)
}

/// The current tollgate against an earlier build (`--baseline`), same
/// config and placement, in interleaved rounds.
pub fn baseline(bench: &Bench, trio: &Trio) -> Result<Value, String> {
    let binary = bench
        .args
        .baseline
        .as_deref()
        .ok_or("the baseline section needs --baseline PATH")?;
    let config = bench.config("baseline", &tollgate_config(trio.mock_port, 600))?;
    let earlier = bench.start_binary(binary, "baseline", config, bench.place.proxy.as_deref(), &[], &[])?;
    let targets = [tollgate("baseline", &earlier), tollgate("current", &trio.tollgate)];
    let mut result = compare(bench, "baseline", &targets, true)?;
    result["binary"] = json!(binary.display().to_string());
    Ok(result)
}

/// nginx, the bare hyper proxy (`bare.rs`), tollgate and any `--peer` at 32
/// connections, in interleaved rounds on the proxy CPUs: how close a hyper
/// proxy that does nothing gets to nginx, and what tollgate's own work adds
/// to it.
pub fn floor(bench: &Bench, trio: &Trio) -> Result<Value, String> {
    let peers = crate::peers::parse_all(&bench.args.peers)?;
    let mut running = Vec::new();
    for peer in &peers {
        let cpus = bench.place.proxy.as_deref();
        running.push(crate::peers::start(bench, peer, trio.mock_port, cpus, "floor")?);
    }
    let port = free_port();
    let mut command = Placement::command(bench.place.proxy.as_deref(), &bench.exe);
    command.args([
        "bare",
        "--port",
        &port.to_string(),
        "--upstream",
        &trio.mock_port.to_string(),
    ]);
    let bare = Proc::spawn(command, &bench.path("bare.log")).map_err(|e| e.to_string())?;
    wait_ok(port, "/ready", Instant::now(), Duration::from_secs(10)).ok_or("the bare proxy did not start")?;
    let mut targets = vec![("bare", Via::Nginx.url(port, Kind::Json), &bare)];
    if let Some((nginx, nginx_port)) = &trio.nginx {
        targets.insert(0, ("nginx", Via::Nginx.url(*nginx_port, Kind::Json), nginx));
    }
    targets.push(tollgate("tollgate", &trio.tollgate));
    for peer in &running {
        targets.push((peer.kind.name(), peer.url(), &peer.proc));
    }
    compare(bench, "floor", &targets, false)
}

/// OTLP export (http/protobuf to a loopback sink, 1 s intervals) against none.
pub fn otlp(bench: &Bench, trio: &Trio) -> Result<Value, String> {
    let (sink, sink_port) = bench.mock("otlp-sink")?;
    let endpoint = format!("http://127.0.0.1:{sink_port}");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ];
    debug_assert!(env.iter().all(|(k, _)| OTEL_VARS.contains(k)));
    let exporting = bench.tollgate("otlp", trio.mock_port, &env, &[])?;
    let mut sampled_env = env.to_vec();
    sampled_env.extend([
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
    ]);
    debug_assert!(sampled_env.iter().all(|(k, _)| OTEL_VARS.contains(k)));
    let sampled = bench.tollgate("otlp-sampled", trio.mock_port, &sampled_env, &[])?;
    let targets = [
        tollgate("off", &trio.tollgate),
        tollgate("on", &exporting),
        tollgate("sampled", &sampled),
    ];
    let mut result = compare(bench, "OTLP export", &targets, false)?;
    std::thread::sleep(Duration::from_millis(1500));
    let stats = http_get(sink_port, "/stats").and_then(|s| serde_json::from_str::<Value>(&s).ok());
    result["sink"] = stats.unwrap_or(Value::Null);
    result["on_rss_kib"] = json!(exporting.proc.rss_kib());
    drop(sink);
    Ok(result)
}

/// Throughput while the config is rewritten and reloaded (SIGHUP) every
/// 100 ms, against none; the reloads' own `took_ms`; and, with the folder
/// watch, file change to new route serving, less the debounce.
pub fn reload(bench: &Bench, mock_port: u16) -> Result<Value, String> {
    let config = bench.config("reload", &tollgate_config(mock_port, 600))?;
    let t = bench.start_tollgate(
        "reload",
        config.clone(),
        bench.place.proxy.as_deref(),
        &[],
        &["--no-watch"],
    )?;
    let url = Via::Tollgate.url(t.port, Kind::Json);
    let (mut steady, mut reloading) = (Vec::new(), Vec::new());
    for round in 1..=bench.args.rounds {
        for active in [false, true] {
            eprintln!("== reload: round {round}/{}, reloading={active}", bench.args.rounds);
            let stop = Arc::new(AtomicBool::new(false));
            let writer = active.then(|| {
                let (stop, config, pid) = (stop.clone(), config.clone(), t.proc.pid());
                std::thread::spawn(move || rewrite_every_100ms(&stop, &config, mock_port, pid))
            });
            let result = wrk::run(bench, &url, Kind::Json.model(), 32, bench.args.secs, Some(&t.proc));
            stop.store(true, Ordering::Relaxed);
            let rewrites = writer.map(|w| w.join().unwrap_or(0));
            let mut result = result?;
            check_errors(&result, Via::Tollgate)?;
            result["rewrites"] = json!(rewrites);
            if active { &mut reloading } else { &mut steady }.push(result);
        }
    }
    let took = took_ms(&t.log);
    let watched = watch_latency(bench, mock_port)?;
    Ok(json!({
        "steady": medians(steady),
        "reloading": medians(reloading),
        "reloads": took.len(),
        "took_ms": { "p50": median(&took), "max": max(&took) },
        "watch": watched,
    }))
}

/// Rewrites the config (alternating a timeout, so each is a real change)
/// and sends SIGHUP, every 100 ms until `stop`; the number of rewrites.
fn rewrite_every_100ms(stop: &AtomicBool, config: &std::path::Path, mock_port: u16, pid: u32) -> u64 {
    let mut n = 0u64;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let text = tollgate_config(mock_port, 601 + (n % 2) as u32);
        if replace(config, &text).is_ok() {
            let _ = std::process::Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status();
            n += 1;
        }
        next += Duration::from_millis(100);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    n
}

/// Writes beside, then renames over: what kubelet and most editors do.
fn replace(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// `took_ms=` of every `config reloaded` line in a log.
fn took_ms(log: &std::path::Path) -> Vec<f64> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("config reloaded"))
        .filter_map(|l| l.split("took_ms=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Adds a model to the watched file and polls until it serves; the time
/// from the rename, less the debounce, over ten changes.
fn watch_latency(bench: &Bench, mock_port: u16) -> Result<Value, String> {
    let base = tollgate_config(mock_port, 600);
    let config = bench.config("watch", &base)?;
    let t = bench.start_tollgate("watch", config.clone(), bench.place.proxy.as_deref(), &[], &[])?;
    std::thread::sleep(Duration::from_millis(300));
    let mut after = Vec::new();
    for i in 0..10 {
        let model = format!("added-{i}");
        let entry = format!(
            "  - model_name: {model}\n    litellm_params:\n      model: openai/mock-{model}\n      api_base: http://127.0.0.1:{mock_port}/json/v1\n",
        );
        let text = base.replace("general_settings:", &format!("{entry}general_settings:"));
        let body = chat_body(&model, false);
        replace(&config, &text).map_err(|e| e.to_string())?;
        let changed = Instant::now();
        loop {
            if http_status(t.port, "POST", "/v1/chat/completions", &body) == Some(200) {
                after.push(changed.elapsed().saturating_sub(DEBOUNCE).as_secs_f64() * 1e3);
                break;
            }
            if changed.elapsed() > Duration::from_secs(10) {
                return Err(format!("model {model} never served after the file changed"));
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let took = took_ms(&t.log);
    Ok(json!({
        "change_to_serving_less_debounce_ms": { "p50": median(&after), "max": max(&after), "all": after },
        "took_ms": { "p50": median(&took), "max": max(&took), "n": took.len() },
    }))
}

/// Opens slow streams through a fresh tollgate until the target, pausing at
/// milestones to read its memory. HTTP/1.1 clients need two descriptors per
/// stream in tollgate (client and upstream sockets), so they stop at what its
/// limit allows; h2c clients multiplex, so only the upstream side costs one.
pub fn streams(bench: &Bench) -> Result<Value, String> {
    let mut out = Map::new();
    for proto in ["h1", "h2"] {
        let (mock, mock_port) = bench.mock(&format!("streams-{proto}-mock"))?;
        let t = bench.tollgate(&format!("streams-{proto}"), mock_port, &[], &[])?;
        let limit = t.proc.fd_limit().unwrap_or(1024) as usize;
        let most = match proto {
            "h1" => (limit.saturating_sub(100) / 2 / 100 * 100).min(bench.args.streams),
            _ => bench.args.streams.min(limit.saturating_sub(200) / 100 * 100),
        };
        let mut milestones: Vec<usize> = [1000, 5000, most].into_iter().filter(|m| *m <= most).collect();
        milestones.dedup();
        eprintln!("== streams over {proto}: milestones {milestones:?} (tollgate's fd limit {limit})");
        let mut result = hold(bench, &t, proto, &milestones)?;
        result["fd_limit"] = json!(limit);
        result["idle_rss_kib_before"] = json!(t.proc.rss_kib());
        result["peak_rss_kib"] = json!(t.proc.hwm_kib());
        out.insert(proto.into(), result);
        drop(t);
        drop(mock);
    }
    Ok(Value::Object(out))
}

fn hold(bench: &Bench, t: &Tollgate, proto: &str, milestones: &[usize]) -> Result<Value, String> {
    let list = milestones.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let url = Via::Tollgate.url(t.port, Kind::Slow);
    let mut child = Placement::command(bench.place.load.as_deref(), &bench.exe)
        .args([
            "streams",
            "--url",
            &url,
            "--model",
            Kind::Slow.model(),
            "--proto",
            proto,
        ])
        .args(["--milestones", &list])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut points = Vec::new();
    let mut summary = Value::Null;
    for line in stdout.lines().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("held ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let held: u64 = words.first().and_then(|w| w.parse().ok()).unwrap_or(0);
            let failed: u64 = words.get(2).and_then(|w| w.parse().ok()).unwrap_or(0);
            std::thread::sleep(Duration::from_millis(500));
            let rss = t.proc.rss_kib();
            eprintln!(
                "   held {held}, failed {failed}: tollgate RSS {:.1} MiB",
                rss as f64 / 1024.0
            );
            points.push(json!({ "held": held, "failed": failed, "rss_kib": rss, "secs": words.get(4) }));
            let _ = writeln!(stdin, "go");
        } else if line.starts_with('{') {
            summary = serde_json::from_str(&line).unwrap_or(Value::Null);
        }
    }
    let _ = child.wait();
    Ok(json!({ "points": points, "summary": summary }))
}

/// `perf record` on the main tollgate under wrk at 32 connections; the
/// report's top symbols by self time.
pub fn profile(bench: &Bench, trio: &Trio) -> Result<Value, String> {
    let data = bench.path("perf.data");
    let mut command = std::process::Command::new("perf");
    command
        .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-o"])
        .arg(&data)
        .args(["-p", &trio.tollgate.proc.pid().to_string()]);
    let perf = Proc::spawn(command, &bench.path("perf.log")).map_err(|e| format!("perf: {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    let url = Via::Tollgate.url(trio.tollgate.port, Kind::Json);
    eprintln!(
        "== profile: wrk at 32 connections for {} s under perf",
        bench.args.profile_secs
    );
    let load = wrk::run(bench, &url, Kind::Json.model(), 32, bench.args.profile_secs, None)?;
    perf.signal("INT");
    drop(perf);
    let keep = std::env::var_os("BENCH_PERF_DATA").map(std::path::PathBuf::from);
    let data = match keep {
        Some(path) => std::fs::copy(&data, &path).map(|_| path).unwrap_or(data),
        None => data,
    };
    let mut top = Vec::new();
    for children in [false, true] {
        let output = std::process::Command::new("perf")
            .args([
                "report",
                "--stdio",
                "--no-call-graph",
                "--sort",
                "symbol",
                "--percent-limit",
                "0.7",
                "-i",
            ])
            .arg(&data)
            .arg(if children { "--children" } else { "--no-children" })
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .take(45)
            .map(|l| l.trim_end().to_string())
            .collect();
        top.push(lines);
    }
    Ok(json!({ "load": load, "self": top[0], "children": top[1], "data": data }))
}
