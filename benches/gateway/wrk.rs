//! Throughput runs: wrk with a Lua script that POSTs a chat body and prints
//! its exact figures as JSON (or the Rust load client when wrk is missing),
//! while the proxy's CPU time and resident memory are read from /proc.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{Format, KEY};
use crate::procs::{Placement, Proc};
use crate::setup::Bench;

/// One load run of `secs` seconds at `conns` connections against `url`.
/// With `proxy`, also what it cost that process: CPU µs per request, the
/// share of one CPU it used, and its resident memory half-way through.
pub fn run(
    bench: &Bench,
    url: &str,
    model: &str,
    conns: usize,
    secs: u64,
    proxy: Option<&Proc>,
) -> Result<Value, String> {
    let request = Load {
        model,
        format: Format::Chat,
        stream: false,
    };
    run_as(bench, url, request, conns, secs, proxy)
}

/// What each request of a load run is: a small request for `model` in
/// `format`, streamed or not.
#[derive(Clone, Copy)]
pub struct Load<'a> {
    pub model: &'a str,
    pub format: Format,
    pub stream: bool,
}

/// [`run`] with a request in any format, streamed or not.
pub fn run_as(
    bench: &Bench,
    url: &str,
    request: Load<'_>,
    conns: usize,
    secs: u64,
    proxy: Option<&Proc>,
) -> Result<Value, String> {
    run_on(bench, bench.place.load.as_deref(), url, request, conns, secs, proxy)
}

/// [`run_as`] with the load generator on `cpus` (`None`: not pinned).
pub fn run_on(
    bench: &Bench,
    cpus: Option<&str>,
    url: &str,
    request: Load<'_>,
    conns: usize,
    secs: u64,
    proxy: Option<&Proc>,
) -> Result<Value, String> {
    let model = request.model;
    let cpu_before = proxy.map(Proc::cpu);
    let started = Instant::now();
    let child = match &bench.wrk {
        Some(wrk) => {
            let name = format!("wrk-{model}-{}-{}.lua", request.format.name(), request.stream);
            let script = bench.path(&name);
            std::fs::write(&script, lua(request)).map_err(|e| e.to_string())?;
            let mut command = Placement::command(cpus, wrk);
            command
                .args([
                    "-t1",
                    &format!("-c{conns}"),
                    &format!("-d{secs}s"),
                    "--timeout",
                    "10s",
                    "-s",
                ])
                .arg(&script)
                .arg(url);
            command
        }
        None => {
            let mut command = Placement::command(cpus, &bench.exe);
            command.args(["load", "--url", url, "--model", model, "--conns", &conns.to_string()]);
            command.args(["--format", request.format.name()]);
            if request.stream {
                command.arg("--stream");
            }
            command.args(["--secs", &secs.to_string(), "--warmup", "20"]);
            command
        }
    }
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .map_err(|e| format!("cannot start the load generator: {e}"))?;
    std::thread::sleep(Duration::from_secs_f64(secs as f64 / 2.0));
    let rss_mid = proxy.map(Proc::rss_kib);
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut result = parse(&stdout).ok_or_else(|| {
        format!(
            "no result from the load generator: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    if let (Some(proc), Some(before)) = (proxy, cpu_before) {
        let cpu = proc.cpu().saturating_sub(before);
        let requests = result["n"].as_f64().unwrap_or(0.0).max(1.0);
        let us_per_req = cpu.as_secs_f64() * 1e6 / requests;
        result["proxy_cpu_us_per_req"] = json!(us_per_req);
        // What one fully used CPU would serve at this cost: the throughput
        // figure that other processes on a shared machine cannot skew.
        result["proxy_capacity_rps"] = json!(1e6 / us_per_req);
        result["proxy_cpu_util"] = json!(cpu.as_secs_f64() / wall.as_secs_f64());
        result["proxy_rss_kib"] = json!(rss_mid);
    }
    Ok(result)
}

/// wrk's `JSON {…}` line, or the Rust client's JSON line.
fn parse(stdout: &str) -> Option<Value> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("JSON ") || l.starts_with('{'))?;
    let value: Value = serde_json::from_str(line.trim_start_matches("JSON ")).ok()?;
    if value.get("error").is_some() {
        return None;
    }
    Some(value)
}

/// A wrk script: POST the chat body with the master key; at the end, print
/// requests, rate and exact latency percentiles as one JSON line.
fn lua(request: Load<'_>) -> String {
    let body = request.format.body(request.model, request.stream);
    let extra = request.format.header().map_or(String::new(), |(name, value)| {
        format!("wrk.headers[\"{name}\"] = \"{value}\"\n")
    });
    format!(
        r#"wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {KEY}"
{extra}
done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'JSON {{"n":%d,"secs":%.3f,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.2f,"errors":%d,"non2xx":%d}}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect + e.read + e.write + e.timeout + e.status, e.status))
end
"#
    )
}
