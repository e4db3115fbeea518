//! Where a client runs: the pinned install, a throwaway home and project,
//! a proxy that catches any attempt to leave the machine, and a time limit.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::process::Command;

/// A client that runs longer is killed and the test fails with its output.
const LIMIT: Duration = Duration::from_secs(60);

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// The installed executable of an npm package pinned in package.json, after
/// checking it reports the pinned version: a missing or stale install fails
/// here, with what to run, rather than skipping.
pub fn installed(package: &str, bin: &str) -> PathBuf {
    static PINS: OnceLock<serde_json::Value> = OnceLock::new();
    let pins = PINS.get_or_init(|| {
        let text = std::fs::read_to_string(clients_dir().join("package.json")).expect("tests/clients/package.json");
        serde_json::from_str(&text).expect("package.json is JSON")
    });
    let pinned = pins["dependencies"][package].as_str().expect("the package is pinned");
    let path = clients_dir().join("node_modules/.bin").join(bin);
    let version = std::process::Command::new(&path).arg("--version").output();
    let reported = version.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    match reported {
        Ok(text) if text.contains(pinned) => path,
        Ok(text) => panic!(
            "{package} in tests/clients/node_modules reports {text:?}, not {pinned}: run scripts/test.sh (it runs `npm ci --prefix tests/clients`)"
        ),
        Err(e) => panic!(
            "{package} is not installed ({}: {e}): run scripts/test.sh (it runs `npm ci --prefix tests/clients`)",
            path.display()
        ),
    }
}

/// A stand-in HTTP proxy every client is pointed at for everything but
/// loopback: it forwards nothing, so what reaches it is what the client tried
/// to send off the machine.
pub struct Offline {
    pub url: String,
    attempts: Arc<Mutex<Vec<String>>>,
}

impl Offline {
    pub async fn start() -> Offline {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let log = attempts.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = vec![0u8; 512];
                    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut head)).await;
                    let n = read.ok().and_then(Result::ok).unwrap_or(0);
                    let text = String::from_utf8_lossy(&head[..n]);
                    let line = text.lines().next().unwrap_or("(nothing sent)").to_string();
                    log.lock().unwrap().push(line);
                });
            }
        });
        Offline { url, attempts }
    }

    /// The request lines (`CONNECT host:443 HTTP/1.1`) that reached the proxy.
    pub fn attempts(&self) -> Vec<String> {
        self.attempts.lock().unwrap().clone()
    }
}

/// A throwaway home and project folder, and the secret file the tool reads.
pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub home: PathBuf,
    pub project: PathBuf,
    tmp: PathBuf,
    pub secret_file: PathBuf,
    pub offline: Offline,
}

impl Sandbox {
    /// `secret` goes into `project/secret.txt`; only a tool can read it there.
    pub async fn new(secret: &str) -> Sandbox {
        // Outside the repository, so no client picks up its git root or instructions.
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let project = dir.path().join("project");
        let tmp = dir.path().join("tmp");
        for folder in [&home, &project, &tmp] {
            std::fs::create_dir_all(folder).unwrap();
        }
        let secret_file = project.join("secret.txt");
        std::fs::write(&secret_file, format!("the secret word is {secret}\n")).unwrap();
        Sandbox {
            _dir: dir,
            home,
            project,
            tmp,
            secret_file,
            offline: Offline::start().await,
        }
    }

    /// A command with an empty environment but for PATH, the throwaway home
    /// and the proxy: no developer key, config or cache can leak in.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command.env_clear().current_dir(&self.project).kill_on_drop(true);
        command.env("PATH", std::env::var_os("PATH").unwrap_or_default());
        command.env("HOME", &self.home).env("TMPDIR", &self.tmp);
        for (var, dir) in [
            ("XDG_CONFIG_HOME", ".config"),
            ("XDG_CACHE_HOME", ".cache"),
            ("XDG_DATA_HOME", ".local/share"),
            ("XDG_STATE_HOME", ".local/state"),
        ] {
            command.env(var, self.home.join(dir));
        }
        command.env("LANG", "C.UTF-8").env("TERM", "dumb").env("NO_COLOR", "1");
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            command.env(var, &self.offline.url);
        }
        command
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost");
        command
    }

    /// Runs the client to its end, `LIMIT` at most, then checks it sent
    /// nothing off the machine.
    pub async fn run(&self, mut command: Command, files: Files<'_>) -> Outcome {
        let log = |name: &str| std::fs::File::create(self.home.join(name)).unwrap();
        command
            .stdin(Stdio::null())
            .stdout(log("client.stdout"))
            .stderr(log("client.stderr"))
            .process_group(0);
        let started = Instant::now();
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let status = match tokio::time::timeout(LIMIT, child.wait()).await {
            Ok(status) => Some(status.unwrap()),
            Err(_) => {
                // The whole group: the client's own children (shells, tools) too.
                if let Some(pid) = child.id() {
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", &format!("-{pid}")])
                        .status();
                }
                let _ = child.wait().await;
                None
            }
        };
        let read = |name: &str| std::fs::read_to_string(self.home.join(name)).unwrap_or_default();
        let stdout = read("client.stdout");
        let answer = match files.answer {
            Some(file) => std::fs::read_to_string(file).unwrap_or_default(),
            None => stdout.clone(),
        };
        let log = files.log.map(|file| std::fs::read_to_string(file).unwrap_or_default());
        let troubles = log
            .iter()
            .flat_map(|l| l.lines())
            .filter(|l| l.contains("[ERROR]") || l.contains("[WARN]"));
        let outcome = Outcome {
            status: status.unwrap_or_default(),
            elapsed: started.elapsed(),
            stdout,
            stderr: read("client.stderr"),
            answer,
            troubles: troubles
                .map(|l| l.chars().take(400).collect::<String>() + "\n")
                .collect(),
        };
        assert!(status.is_some(), "the client was killed after {LIMIT:?}\n{outcome}");
        let attempts = self.offline.attempts();
        assert!(
            attempts.is_empty(),
            "the client tried to leave the machine: {attempts:?}\n{outcome}"
        );
        outcome
    }
}

/// Where a client leaves what the test reads besides stdout and stderr.
#[derive(Default, Clone, Copy)]
pub struct Files<'a> {
    /// Its final answer, when not printed on stdout.
    pub answer: Option<&'a Path>,
    /// Its debug log, whose warnings and errors go into failure messages.
    pub log: Option<&'a Path>,
}

/// How a client run ended.
pub struct Outcome {
    pub status: ExitStatus,
    pub elapsed: Duration,
    pub stdout: String,
    pub stderr: String,
    /// The client's final answer.
    pub answer: String,
    /// The warning and error lines of its debug log.
    pub troubles: String,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "client exit: {} after {:.1?}", self.status, self.elapsed)?;
        writeln!(f, "--- stdout\n{}", self.stdout.trim_end())?;
        writeln!(f, "--- stderr\n{}", self.stderr.trim_end())?;
        write!(f, "--- debug log warnings and errors\n{}", self.troubles.trim_end())
    }
}
