//! The orchestrator: starts the mock, nginx and tollgate, runs every
//! comparison in interleaved rounds (direct, nginx, tollgate, direct, …) so
//! machine noise hits all three alike, then prints the table and writes
//! the results file.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{json, Map, Value};

use crate::procs::{Placement, Proc};
use crate::setup::{tollgate_config, Bench, Kind, Tollgate, Via, CHUNKS, CHUNK_EVERY_MS};
use crate::{default_config, report, translation, variants, wrk, RunArgs};

pub fn main(args: RunArgs) -> i32 {
    match run(args) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("gateway bench: {error}");
            1
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn run(mut args: RunArgs) -> Result<(), String> {
    if let Some(path) = &args.report {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let results: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        report::print(&results);
        return Ok(());
    }
    if args.quick {
        args.secs = args.secs.min(2);
        args.rounds = 1;
        args.requests = args.requests.min(1000);
        args.streams = args.streams.min(2000);
    }
    let bench = bench(args)?;
    let mut results = Map::new();
    results.insert("run".into(), report::about(&bench));
    measure(&bench, &mut results)?;
    results.insert("load_after".into(), json!(report::loadavg()));
    let results = Value::Object(results);
    report::print(&results);
    write(&bench, &results)
}

fn bench(args: RunArgs) -> Result<Bench, String> {
    let pin = !args.no_pin && which("taskset").is_some();
    Ok(Bench {
        dir: tempfile::Builder::new()
            .prefix("tollgate-bench-")
            .tempdir()
            .map_err(|e| e.to_string())?,
        place: Placement {
            proxy: pin.then(|| args.proxy_cpus.clone()),
            load: pin.then(|| args.load_cpus.clone()),
        },
        exe: std::env::current_exe().map_err(|e| e.to_string())?,
        tollgate: args
            .tollgate
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tollgate"))),
        nginx: which("nginx").filter(|_| !args.no_nginx),
        wrk: which("wrk"),
        args,
    })
}

/// Runs the sections asked for (all but `profile` by default), in order.
fn measure(bench: &Bench, results: &mut Map<String, Value>) -> Result<(), String> {
    let want = |section: &str| {
        if bench.args.only.is_empty() {
            // A profile and a baseline comparison are asked for by name.
            !matches!(section, "profile" | "baseline")
        } else {
            bench.args.only.iter().any(|o| o == section)
        }
    };
    if want("startup") {
        results.insert("startup".into(), variants::startup(bench)?);
    }
    let on_trio = [
        "latency",
        "throughput",
        "streaming",
        "accesslog",
        "otlp",
        "reload",
        "profile",
        "baseline",
        "floor",
    ];
    if on_trio.iter().any(|s| want(s)) {
        let trio = Trio::start(bench, "tollgate", bench.place.proxy.as_deref())?;
        trio.sections(bench, &want, results)?;
    }
    // One CPU for all: no cross-CPU wake-ups, so the 1-connection figures
    // show what the proxy's own work adds (see BENCHMARKS.md).
    let split = bench.place.load.is_some() && bench.place.load != bench.place.proxy;
    if split && (want("latency") || want("streaming")) {
        let trio = Trio::start(bench, "one-cpu", bench.place.load.as_deref())?;
        if want("latency") {
            results.insert("latency_c1_one_cpu".into(), trio.latency(bench)?);
        }
        if want("streaming") {
            results.insert("ttfc_one_cpu".into(), trio.ttfc(bench)?);
        }
    }
    if want("streams") {
        results.insert("streams".into(), variants::streams(bench)?);
    }
    if want("translation") {
        results.insert("translation".into(), translation::translation(bench)?);
    }
    if want("default") {
        results.insert("default".into(), default_config::default(bench)?);
    }
    Ok(())
}

fn write(bench: &Bench, results: &Value) -> Result<(), String> {
    let out = bench.args.out.clone().unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
        target.join("bench").join("gateway.json")
    });
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let text = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    std::fs::write(&out, text + "\n").map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    eprintln!("results written to {}", out.display());
    Ok(())
}

/// The mock, nginx in front of it (when installed) and tollgate in front of it.
pub struct Trio {
    /// Kept to stop it with the others.
    pub _mock: Proc,
    pub mock_port: u16,
    pub nginx: Option<(Proc, u16)>,
    pub tollgate: Tollgate,
}

impl Trio {
    /// The three, with the proxies on `proxy_cpus`.
    fn start(bench: &Bench, name: &str, proxy_cpus: Option<&str>) -> Result<Trio, String> {
        let (mock, mock_port) = bench.mock(&format!("{name}-mock"))?;
        let nginx = bench.nginx(mock_port, proxy_cpus)?;
        let config = bench.config(name, &tollgate_config(mock_port, 600))?;
        let tollgate = bench.start_tollgate(name, config, proxy_cpus, &[], &[])?;
        Ok(Trio {
            _mock: mock,
            mock_port,
            nginx,
            tollgate,
        })
    }

    /// Every section that runs against this trio's tollgate.
    fn sections(
        &self,
        bench: &Bench,
        want: &dyn Fn(&str) -> bool,
        results: &mut Map<String, Value>,
    ) -> Result<(), String> {
        let t = &self.tollgate;
        results.insert("idle_rss_kib".into(), json!(t.proc.rss_kib()));
        results.insert("idle".into(), variants::idle(t));
        results.insert("threads".into(), json!(t.proc.threads()));
        if want("latency") {
            results.insert("latency_c1".into(), self.latency(bench)?);
        }
        if want("throughput") {
            let rounds = bench.args.rounds;
            results.insert("throughput_c32".into(), self.throughput(bench, 32, rounds)?);
            results.insert("throughput_c256".into(), self.throughput(bench, 256, 1)?);
            std::thread::sleep(std::time::Duration::from_secs(1));
            results.insert("after_load_rss_kib".into(), json!(t.proc.rss_kib()));
            results.insert("peak_rss_kib".into(), json!(t.proc.hwm_kib()));
        }
        if want("streaming") {
            results.insert("ttfc".into(), self.ttfc(bench)?);
            results.insert("chunks".into(), self.chunks(bench)?);
        }
        if want("accesslog") {
            results.insert("accesslog".into(), variants::access_log(bench, self)?);
        }
        if want("otlp") {
            results.insert("otlp".into(), variants::otlp(bench, self)?);
        }
        if want("reload") {
            results.insert("reload".into(), variants::reload(bench, self.mock_port)?);
        }
        if want("profile") {
            results.insert("profile".into(), variants::profile(bench, self)?);
        }
        if want("floor") {
            results.insert("floor".into(), variants::floor(bench, self)?);
        }
        if want("baseline") {
            results.insert("baseline".into(), variants::baseline(bench, self)?);
        }
        Ok(())
    }

    /// Each target present, with its port and the process to watch.
    fn targets(&self) -> Vec<(Via, u16, Option<&Proc>)> {
        let mut targets = vec![(Via::Direct, self.mock_port, None)];
        if let Some((proc, port)) = &self.nginx {
            targets.push((Via::Nginx, *port, Some(proc)));
        }
        targets.push((Via::Tollgate, self.tollgate.port, Some(&self.tollgate.proc)));
        targets
    }

    /// `rounds` interleaved rounds of `measure` over every target; per
    /// target, every round and the median of each figure.
    fn rounds(
        &self,
        what: &str,
        rounds: usize,
        mut measure: impl FnMut(Via, u16, Option<&Proc>) -> Result<Value, String>,
    ) -> Result<Value, String> {
        let mut per: Vec<(Via, Vec<Value>)> = Vec::new();
        for round in 1..=rounds {
            for (via, port, proc) in self.targets() {
                eprintln!("== {what}: round {round}/{rounds}, {}", via.name());
                let value = measure(via, port, proc)?;
                match per.iter_mut().find(|(v, _)| *v == via) {
                    Some((_, values)) => values.push(value),
                    None => per.push((via, vec![value])),
                }
            }
        }
        let mut out = Map::new();
        for (via, values) in per {
            out.insert(via.name().into(), report::medians(values));
        }
        Ok(Value::Object(out))
    }

    fn latency(&self, bench: &Bench) -> Result<Value, String> {
        let requests = bench.args.requests.to_string();
        self.rounds("latency, 1 connection", bench.args.rounds, |via, port, _| {
            let url = via.url(port, Kind::Json);
            client(bench, &["load", "--url", &url, "--conns", "1", "--requests", &requests])
        })
    }

    fn throughput(&self, bench: &Bench, conns: usize, rounds: usize) -> Result<Value, String> {
        let what = format!("throughput, {conns} connections");
        self.rounds(&what, rounds, |via, port, proc| {
            let url = via.url(port, Kind::Json);
            let result = wrk::run(bench, &url, Kind::Json.model(), conns, bench.args.secs, proc)?;
            check_errors(&result, via)?;
            Ok(result)
        })
    }

    fn ttfc(&self, bench: &Bench) -> Result<Value, String> {
        let n = (bench.args.requests / 5).max(200).to_string();
        self.rounds("time to first chunk", bench.args.rounds, |via, port, _| {
            let url = via.url(port, Kind::Ttfc);
            client(
                bench,
                &["ttfc", "--url", &url, "--model", Kind::Ttfc.model(), "--n", &n],
            )
        })
    }

    fn chunks(&self, bench: &Bench) -> Result<Value, String> {
        let (chunks, every) = (CHUNKS.to_string(), CHUNK_EVERY_MS.to_string());
        self.rounds("chunk timing", 1, |via, port, _| {
            let url = via.url(port, Kind::Chunks);
            let model = Kind::Chunks.model();
            client(
                bench,
                &[
                    "chunks",
                    "--url",
                    &url,
                    "--model",
                    model,
                    "--chunks",
                    &chunks,
                    "--every-ms",
                    &every,
                ],
            )
        })
    }
}

/// A load run with failed requests measures the wrong thing: stop.
pub fn check_errors(result: &Value, via: Via) -> Result<(), String> {
    match result["errors"].as_u64() {
        Some(0) | None => Ok(()),
        Some(n) => Err(format!("{} answered {n} requests with errors: {result}", via.name())),
    }
}

/// Runs a client subcommand on the load CPUs; its JSON line.
pub fn client(bench: &Bench, args: &[&str]) -> Result<Value, String> {
    client_on(bench, bench.place.load.as_deref(), args)
}

/// [`client`] on `cpus` (`None`: not pinned).
pub fn client_on(bench: &Bench, cpus: Option<&str>, args: &[&str]) -> Result<Value, String> {
    let output = Placement::command(cpus, &bench.exe)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or("");
    let value: Value = serde_json::from_str(line).map_err(|_| format!("{}: no result: {stdout}", args[0]))?;
    if let Some(error) = value.get("error") {
        return Err(format!("{}: {error}", args[0]));
    }
    if value["errors"].as_u64().is_some_and(|n| n > 0) {
        return Err(format!("{}: {} requests failed", args[0], value["errors"]));
    }
    Ok(value)
}
