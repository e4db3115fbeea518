//! The gateway benchmark: a loopback mock upstream, nginx's `proxy_pass` (the
//! practical limit) and tollgate side by side in one run, so every figure is
//! a ratio taken under the same machine load. `scripts/bench.sh` runs it;
//! BENCHMARKS.md says what each number means.
//!
//! The same binary is every piece: without a subcommand it orchestrates; the
//! subcommands are the mock upstream and the Rust clients it starts pinned
//! with `taskset`.

mod bare;
mod client;
mod default_config;
mod mock;
mod peers;
mod procs;
mod report;
mod run;
mod setup;
mod streams;
mod translation;
mod variants;
mod wrk;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gateway-bench", about = "tollgate vs direct vs nginx, side by side")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
    /// Passed by `cargo bench`: run the benchmark (without it, only say how).
    #[arg(long, hide = true)]
    bench: bool,
}

/// What the orchestrator measures and how long.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Shorter runs (about a minute): for trying the harness, not for figures.
    #[arg(long)]
    pub quick: bool,
    /// Seconds per wrk run.
    #[arg(long, default_value_t = 5)]
    pub secs: u64,
    /// Interleaved rounds of direct / nginx / tollgate per comparison.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Requests per target and round for the 1-connection latency.
    #[arg(long, default_value_t = 5000)]
    pub requests: usize,
    /// Concurrent open streams to aim for (HTTP/2 clients reach it; HTTP/1.1
    /// clients stop at what tollgate's file descriptor limit allows).
    #[arg(long, default_value_t = 10_000)]
    pub streams: usize,
    /// Only these sections (comma-separated): startup, latency, throughput,
    /// streaming, accesslog, otlp, reload, streams, profile, baseline, floor,
    /// translation, default.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Extra tollgate arguments for one more column in the `default` section,
    /// beside tollgate with default flags, e.g. `--default-variant
    /// "--worker-threads 2"` (split on whitespace; repeat for more columns).
    #[arg(long = "default-variant", value_name = "ARGS", allow_hyphen_values = true)]
    pub default_variants: Vec<String>,
    /// Also put the bare hyper proxy in the `default` section, on a
    /// multi-threaded runtime and thread-per-core: the framework's floor
    /// under each design.
    #[arg(long)]
    pub default_bare: bool,
    /// A peer gateway's binary, as `KIND=PATH`: its config is generated and
    /// it joins the `default` and `floor` sections. Kinds: `agentgateway`
    /// (an OpenAI AI backend) and `agentgateway-http` (a plain HTTP backend).
    /// Repeat for more peers.
    #[arg(long = "peer", value_name = "KIND=PATH")]
    pub peers: Vec<String>,
    /// The tollgate binary (default: the one cargo built for this bench).
    #[arg(long)]
    pub tollgate: Option<PathBuf>,
    /// An earlier tollgate binary to compare with the current one, round by
    /// round at 32 and 1 connections (section `baseline`, run only when named
    /// with `--only`). `scripts/bench-snapshot.sh` builds one from a commit.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// CPUs for the proxy under test (tollgate or nginx), as `taskset -c` takes them.
    #[arg(long, default_value = "0")]
    pub proxy_cpus: String,
    /// CPUs for the mock upstream and the load generator.
    #[arg(long, default_value = "1")]
    pub load_cpus: String,
    /// Do not pin processes to CPUs.
    #[arg(long)]
    pub no_pin: bool,
    /// Skip nginx even if it is installed.
    #[arg(long)]
    pub no_nginx: bool,
    /// Where to write the machine-readable results (default: <target>/bench/gateway.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the tables of a results file written earlier, and exit.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Seconds of `perf record` for the profile section.
    #[arg(long, default_value_t = 8)]
    pub profile_secs: u64,
}

#[derive(Subcommand)]
enum Command {
    /// The mock upstream (internal).
    Mock(mock::MockArgs),
    /// The least a hyper proxy does, for the floor section (internal).
    Bare(bare::BareArgs),
    /// Closed-loop POST load with latency percentiles (internal).
    Load(client::LoadArgs),
    /// Time to first chunk of sequential streams (internal).
    Ttfc(client::TtfcArgs),
    /// Chunk arrival times against their sending schedule (internal).
    Chunks(client::ChunksArgs),
    /// Hold many concurrent streams open (internal).
    Streams(streams::StreamsArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Mock(args)) => mock::main(args),
        Some(Command::Bare(args)) => bare::main(args),
        Some(Command::Load(args)) => client::load_main(args),
        Some(Command::Ttfc(args)) => client::ttfc_main(args),
        Some(Command::Chunks(args)) => client::chunks_main(args),
        Some(Command::Streams(args)) => streams::streams_main(args),
        // `cargo test --benches` runs this without `--bench`: check the
        // mock's canned answers, then say how to run the bench.
        None if !cli.bench => match mock::self_check() {
            Ok(()) => {
                eprintln!("gateway bench: mock answers check out; run it with `cargo bench --bench gateway` or scripts/bench.sh");
                0
            }
            Err(error) => {
                eprintln!("gateway bench: the mock's answers are malformed: {error}");
                1
            }
        },
        None => run::main(cli.run),
    };
    std::process::exit(code);
}
