//! The run's facts (machine, date, commit, load), medians over rounds, and
//! the printed tables: every figure side by side, as a ratio to nginx and
//! as a difference to direct, with the issue's targets.

use std::process::Command;

use serde_json::{json, Map, Value};

use crate::setup::Bench;

fn sh(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Machine, date, commit and how the run was set up.
pub fn about(bench: &Bench) -> Value {
    let lscpu = sh("lscpu", &[]).unwrap_or_default();
    let cpu = lscpu
        .lines()
        .find_map(|l| l.strip_prefix("Model name:"))
        .map(str::trim)
        .unwrap_or("?");
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kib| kib.parse::<f64>().ok())
        .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0));
    let dir = env!("CARGO_MANIFEST_DIR");
    let commit = std::env::var("BENCH_COMMIT")
        .ok()
        .or_else(|| std::fs::read_to_string(format!("{dir}/.bench-commit")).ok())
        .map(|c| c.trim().to_string())
        .or_else(|| {
            let head = sh("git", &["-C", dir, "rev-parse", "--short", "HEAD"])?;
            let dirty = sh("git", &["-C", dir, "status", "--porcelain", "--untracked-files=no"]).is_some();
            Some(if dirty { format!("{head}+dirty") } else { head })
        });
    let tool = |p: &Option<std::path::PathBuf>, flag: &str| {
        p.as_ref().and_then(|p| {
            let out = Command::new(p).arg(flag).output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
            text.lines().next().map(|l| l.trim().to_string())
        })
    };
    json!({
        "date": sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        "commit": commit,
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory": mem,
        "kernel": sh("uname", &["-r"]),
        "tollgate": bench.tollgate.display().to_string(),
        "nginx": tool(&bench.nginx, "-v"),
        "wrk": tool(&bench.wrk, "-v"),
        "proxy_cpus": bench.place.proxy,
        "load_cpus": bench.place.load,
        "args": format!("{:?}", bench.args),
        "load_before": loadavg(),
    })
}

pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The per-field median of several rounds' results (same shape), with the
/// rounds kept under `rounds`.
pub fn medians(rounds: Vec<Value>) -> Value {
    let mut out = merge(&rounds.iter().collect::<Vec<_>>());
    if let Value::Object(map) = &mut out {
        map.insert("rounds".into(), Value::Array(rounds));
    }
    out
}

fn merge(values: &[&Value]) -> Value {
    match values.first() {
        Some(Value::Number(_)) => {
            let numbers: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
            json!(median(&numbers))
        }
        Some(Value::Object(first)) => {
            let mut map = Map::new();
            for key in first.keys() {
                let column: Vec<&Value> = values.iter().filter_map(|v| v.get(key)).collect();
                map.insert(key.clone(), merge(&column));
            }
            Value::Object(map)
        }
        Some(other) => (*other).clone(),
        None => Value::Null,
    }
}

fn at(results: &Value, pointer: &str) -> Option<f64> {
    results
        .pointer(pointer)
        .and_then(Value::as_f64)
        .filter(|x| x.is_finite())
}

fn num(x: Option<f64>, digits: usize) -> String {
    x.filter(|x| x.is_finite())
        .map_or("–".into(), |x| format!("{x:.digits$}"))
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "–",
    }
}

/// Prints both tables (markdown, ready for BENCHMARKS.md).
pub fn print(r: &Value) {
    // A run of the translation or default section alone has nothing for the main tables.
    let others = r.as_object().is_some_and(|m| {
        m.keys()
            .any(|k| !matches!(k.as_str(), "run" | "load_after" | "translation" | "default"))
    });
    if others {
        print_main(r);
    }
    crate::translation::print(r);
    crate::default_config::print(r);
    print_about(r);
}

fn print_main(r: &Value) {
    println!(
        "\n| figure | direct | nginx | tollgate | tollgate ÷ nginx | tollgate − nginx | tollgate − direct | target | |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|---|");
    let row = |label: &str, base: &str, field: &str, digits: usize, target: Option<(&str, Check)>| {
        let get = |via: &str| {
            at(r, &format!("/{base}/{via}/{field}")).or_else(|| {
                // Results written before the field existed: derive it.
                let cpu = at(r, &format!("/{base}/{via}/proxy_cpu_us_per_req"));
                cpu.filter(|_| field == "proxy_capacity_rps").map(|us| 1e6 / us)
            })
        };
        let (d, n, t) = (get("direct"), get("nginx"), get("tollgate"));
        let ratio = t.zip(n).map(|(t, n)| t / n);
        let over_nginx = t.zip(n).map(|(t, n)| t - n);
        let added = t.zip(d).map(|(t, d)| t - d);
        let (target, ok) = match target {
            Some((text, Check::RatioAtLeast(x))) => (text, ratio.map(|r| r >= x)),
            Some((text, Check::AddedAtMost(x))) => (text, added.map(|a| a <= x)),
            None => ("", None),
        };
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} | {target} | {} |",
            num(d, digits),
            num(n, digits),
            num(t, digits),
            num(ratio, 2),
            num(over_nginx, digits),
            num(added, digits),
            verdict(ok)
        );
    };
    row("1 conn: req/s", "latency_c1", "rps", 0, None);
    let p50 = Some(("≤ direct + 25 µs", Check::AddedAtMost(25.0)));
    row("1 conn: p50 µs", "latency_c1", "p50_us", 1, p50);
    let p99 = Some(("≤ direct + 100 µs", Check::AddedAtMost(100.0)));
    row("1 conn: p99 µs", "latency_c1", "p99_us", 1, p99);
    row("32 conns: req/s (raw)", "throughput_c32", "rps", 0, None);
    let rps = Some(("≥ 0.8 × nginx", Check::RatioAtLeast(0.8)));
    row(
        "32 conns: req/s per proxy CPU",
        "throughput_c32",
        "proxy_capacity_rps",
        0,
        rps,
    );
    row("32 conns: p50 µs", "throughput_c32", "p50_us", 0, None);
    row("32 conns: p99 µs", "throughput_c32", "p99_us", 0, None);
    row(
        "32 conns: proxy CPU µs/req",
        "throughput_c32",
        "proxy_cpu_us_per_req",
        1,
        None,
    );
    row(
        "32 conns: proxy CPU use (cores)",
        "throughput_c32",
        "proxy_cpu_util",
        2,
        None,
    );
    row("32 conns: proxy RSS KiB", "throughput_c32", "proxy_rss_kib", 0, None);
    row("256 conns: req/s (raw)", "throughput_c256", "rps", 0, None);
    row(
        "256 conns: req/s per proxy CPU",
        "throughput_c256",
        "proxy_capacity_rps",
        0,
        None,
    );
    row("256 conns: p99 µs", "throughput_c256", "p99_us", 0, None);
    let ttfc = Some(("< direct + 200 µs", Check::AddedAtMost(200.0)));
    row("stream: first chunk p50 µs", "ttfc", "ttfc/p50_us", 1, ttfc);
    row("stream: first chunk p99 µs", "ttfc", "ttfc/p99_us", 1, None);
    let p50 = Some(("≤ direct + 25 µs", Check::AddedAtMost(25.0)));
    row("one CPU, 1 conn: p50 µs", "latency_c1_one_cpu", "p50_us", 1, p50);
    let p99 = Some(("≤ direct + 100 µs", Check::AddedAtMost(100.0)));
    row("one CPU, 1 conn: p99 µs", "latency_c1_one_cpu", "p99_us", 1, p99);
    let ttfc = Some(("< direct + 200 µs", Check::AddedAtMost(200.0)));
    row(
        "one CPU, stream: first chunk p50 µs",
        "ttfc_one_cpu",
        "ttfc/p50_us",
        1,
        ttfc,
    );
    row(
        "one CPU, stream: first chunk p99 µs",
        "ttfc_one_cpu",
        "ttfc/p99_us",
        1,
        None,
    );
    row("stream: chunk lateness p50 µs", "chunks", "lateness/p50_us", 1, None);
    row("stream: chunk lateness p99 µs", "chunks", "lateness/p99_us", 1, None);
    row("stream: chunks coalesced", "chunks", "coalesced", 0, None);
    print_single(r);
}

enum Check {
    RatioAtLeast(f64),
    AddedAtMost(f64),
}

fn print_single(r: &Value) {
    println!("\n| figure | value | target | |");
    println!("|---|---:|---|---|");
    let mib = |p: &str| at(r, p).map(|k| k / 1024.0);
    let line = |label: &str, value: Option<f64>, digits: usize, target: &str, ok: Option<bool>| {
        println!("| {label} | {} | {target} | {} |", num(value, digits), verdict(ok));
    };
    let idle = mib("/idle_rss_kib");
    line(
        "RSS idle, pinned to 1 CPU (MiB)",
        idle,
        1,
        "< 10 MiB",
        idle.map(|m| m < 10.0),
    );
    let idle2 = mib("/startup/idle_rss_kib");
    line(
        "RSS idle, all CPUs (MiB)",
        idle2,
        1,
        "< 10 MiB",
        idle2.map(|m| m < 10.0),
    );
    let reloads = at(r, "/idle/reloads_per_s");
    line(
        "config reloads/s while idle (expect 0)",
        reloads,
        1,
        "0",
        reloads.map(|n| n == 0.0),
    );
    line("CPU while idle (% of a core)", at(r, "/idle/cpu_pct"), 2, "", None);
    line("RSS after load (MiB)", mib("/after_load_rss_kib"), 1, "", None);
    line("RSS peak under load (MiB)", mib("/peak_rss_kib"), 1, "", None);
    for proto in ["h1", "h2"] {
        let points = r.pointer(&format!("/streams/{proto}/points")).and_then(Value::as_array);
        for point in points.into_iter().flatten() {
            let held = point["held"].as_f64();
            let rss = point["rss_kib"].as_f64().map(|k| k / 1024.0);
            let label = format!("RSS at {} open streams, {proto} clients (MiB)", num(held, 0));
            let target = held.is_some_and(|h| (1000.0..1100.0).contains(&h));
            let ok = target.then(|| rss.map(|m| m < 64.0)).flatten();
            line(&label, rss, 1, if target { "< 64 MiB at 1,000" } else { "" }, ok);
        }
        let first_last = points.and_then(|p| Some((p.first()?, p.last()?)));
        let per_stream = first_last.and_then(|(a, b)| {
            let streams = b["held"].as_f64()? - a["held"].as_f64()?;
            let kib = b["rss_kib"].as_f64()? - a["rss_kib"].as_f64()?;
            (streams > 0.0).then(|| kib / streams)
        });
        line(
            &format!("RSS per added stream, {proto} clients (KiB)"),
            per_stream,
            1,
            "",
            None,
        );
        let held = at(r, &format!("/streams/{proto}/summary/held"));
        let failed = at(r, &format!("/streams/{proto}/summary/failed"));
        if held.is_some() {
            let label = format!("open streams held, {proto} clients (failed: {})", num(failed, 0));
            line(&label, held, 0, "10,000", held.map(|h| h >= 10_000.0));
        }
    }
    let start = at(r, "/startup/exec_to_serving_ms/p50");
    line("exec to serving p50 (ms)", start, 1, "< 20 ms", start.map(|s| s < 20.0));
    line(
        "exec to serving max (ms)",
        at(r, "/startup/exec_to_serving_ms/max"),
        1,
        "",
        None,
    );
    let pair = |base: &str, on: &str, off: &str, field: &str| {
        at(r, &format!("/{base}/{on}/{field}")).zip(at(r, &format!("/{base}/{off}/{field}")))
    };
    let ratio = pair("accesslog", "on", "off", "c32/rps").map(|(on, off)| on / off);
    line("access log on ÷ off: req/s at 32", ratio, 2, "", None);
    let cpu = pair("accesslog", "on", "off", "c32/proxy_cpu_us_per_req").map(|(on, off)| on - off);
    line("access log on − off: CPU µs/req", cpu, 1, "", None);
    let p50 = pair("accesslog", "on", "off", "c1/p50_us").map(|(on, off)| on - off);
    line("access log on − off: p50 µs at 1", p50, 1, "", None);
    let floor = |name: &str| at(r, &format!("/floor/{name}/c32/proxy_cpu_us_per_req"));
    line("floor: nginx CPU µs/req at 32", floor("nginx"), 1, "", None);
    line("floor: bare hyper proxy CPU µs/req at 32", floor("bare"), 1, "", None);
    line("floor: tollgate CPU µs/req at 32", floor("tollgate"), 1, "", None);
    let ratio = floor("nginx").zip(floor("bare")).map(|(n, b)| n / b);
    line("floor: bare hyper proxy's rate per CPU ÷ nginx's", ratio, 2, "", None);
    let ratio = floor("nginx").zip(floor("tollgate")).map(|(n, t)| n / t);
    line(
        "floor: tollgate's rate per CPU ÷ nginx's",
        ratio,
        2,
        "≥ 0.8",
        ratio.map(|r| r >= 0.8),
    );
    for peer in crate::peers::PeerKind::ALL.map(crate::peers::PeerKind::name) {
        let Some(cpu) = floor(peer) else { continue };
        line(&format!("floor: {peer} CPU µs/req at 32"), Some(cpu), 1, "", None);
        let ratio = floor("nginx").map(|n| n / cpu);
        line(&format!("floor: {peer}'s rate per CPU ÷ nginx's"), ratio, 2, "", None);
    }
    let cpu = pair("baseline", "baseline", "current", "c32/proxy_cpu_us_per_req");
    line("baseline: CPU µs/req at 32", cpu.map(|(b, _)| b), 1, "", None);
    line("current: CPU µs/req at 32", cpu.map(|(_, c)| c), 1, "", None);
    let p50 = pair("baseline", "current", "baseline", "c1/p50_us").map(|(c, b)| c - b);
    line("current − baseline: p50 µs at 1", p50, 1, "", None);
    let ratio = pair("otlp", "on", "off", "c32/rps").map(|(on, off)| on / off);
    line("OTLP on ÷ off: req/s at 32", ratio, 2, "≥ 0.9", ratio.map(|r| r >= 0.9));
    let cpu = pair("otlp", "on", "off", "c32/proxy_cpu_us_per_req").map(|(on, off)| on - off);
    line("OTLP on − off: CPU µs/req", cpu, 1, "", None);
    let ratio = pair("otlp", "sampled", "off", "c32/rps").map(|(on, off)| on / off);
    line("OTLP on, 1 trace in 10 ÷ off: req/s at 32", ratio, 2, "", None);
    let cpu = pair("otlp", "sampled", "off", "c32/proxy_cpu_us_per_req").map(|(on, off)| on - off);
    line("OTLP on, 1 trace in 10 − off: CPU µs/req", cpu, 1, "", None);
    line(
        "OTLP sink: requests received",
        at(r, "/otlp/sink/requests"),
        0,
        "",
        None,
    );
    let ratio = pair("reload", "reloading", "steady", "rps").map(|(on, off)| on / off);
    line("reload every 100 ms ÷ none: req/s at 32", ratio, 2, "", None);
    let cpu = pair("reload", "reloading", "steady", "proxy_cpu_us_per_req").map(|(on, off)| on - off);
    line("reload every 100 ms − none: CPU µs/req", cpu, 1, "", None);
    line("reloads during those runs", at(r, "/reload/reloads"), 0, "", None);
    line("reload took_ms p50", at(r, "/reload/took_ms/p50"), 2, "", None);
    line("reload took_ms max", at(r, "/reload/took_ms/max"), 2, "", None);
    let watch = "/reload/watch/change_to_serving_less_debounce_ms";
    line(
        "file change → serving, less debounce, p50 (ms)",
        at(r, &format!("{watch}/p50")),
        1,
        "",
        None,
    );
    line(
        "file change → serving, less debounce, max (ms)",
        at(r, &format!("{watch}/max")),
        1,
        "",
        None,
    );
}

fn print_about(r: &Value) {
    let about = &r["run"];
    println!(
        "\nload average before {} / after {}; commit {}; {}",
        about["load_before"].as_str().unwrap_or("?"),
        r["load_after"].as_str().unwrap_or("?"),
        about["commit"].as_str().unwrap_or("?"),
        about["date"].as_str().unwrap_or("?"),
    );
}
