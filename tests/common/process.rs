//! The `tollgate` binary as a child process, with its output captured.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

/// A running `tollgate` process with its output captured.
pub struct Running {
    child: Child,
    pub addr: String,
    output: Arc<Mutex<String>>,
}

impl Running {
    pub fn start(config: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut command = Command::new(BIN);
        command.arg("--config").arg(config).args(["--port", "0"]).args(args);
        command
            .env_remove("TOLLGATE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            sink.lock().unwrap().push_str(&text);
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("tollgate listening") {
                    let _ = tx.send(line.clone());
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("tollgate did not start: {}", output.lock().unwrap()));
        let addr = line
            .split(|c: char| c.is_whitespace() || c == '"' || c == ',')
            .find_map(|w| {
                w.strip_prefix("addr=")
                    .or_else(|| w.strip_prefix("127.0.0.1:").map(|_| w))
            })
            .map(|a| a.to_string())
            .or_else(|| {
                line.find("127.0.0.1:")
                    .map(|i| line[i..].split(['"', ' ', ',']).next().unwrap().to_string())
            })
            .expect("listening line names the address");
        Running { child, addr, output }
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn wait(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                return (status, self.output.lock().unwrap().clone());
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("tollgate did not exit in {limit:?}: {}", self.output.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
