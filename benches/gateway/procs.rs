//! Child processes and what /proc says about them: start pinned with
//! `taskset`, wait until serving, read resident memory and CPU time, stop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where processes run: the proxy under test on one set of CPUs, the mock
/// upstream and the load generator on the other.
#[derive(Clone, Debug)]
pub struct Placement {
    pub proxy: Option<String>,
    pub load: Option<String>,
}

impl Placement {
    /// A command for `program`, pinned to `cpus` when pinning is on.
    pub fn command(cpus: Option<&str>, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match cpus {
            Some(cpus) => {
                let mut command = Command::new("taskset");
                command.args(["-c", cpus]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }
}

/// A free loopback port (the kernel's pick, released at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A child that is killed when dropped.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn spawn(mut command: Command, log: &Path) -> std::io::Result<Proc> {
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = command.spawn()?;
        Ok(Proc { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// This process and its children (nginx's workers).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.pid()];
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.pid())).unwrap_or_default();
        pids.extend(children.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        pids
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Total resident memory of the process and its children, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.pids().iter().filter_map(|p| status_kib(*p, "VmRSS:")).sum()
    }

    /// Peak resident memory (VmHWM) of the process and its children, in KiB.
    pub fn hwm_kib(&self) -> u64 {
        self.pids().iter().filter_map(|p| status_kib(*p, "VmHWM:")).sum()
    }

    /// CPU time spent so far by all threads of the process and its children.
    pub fn cpu(&self) -> Duration {
        Duration::from_nanos(self.pids().iter().map(|p| cpu_ns(*p)).sum())
    }

    pub fn threads(&self) -> u64 {
        status_kib(self.pid(), "Threads:").unwrap_or(0)
    }

    /// The soft limit on open files.
    pub fn fd_limit(&self) -> Option<u64> {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid())).ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    }

    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A number field of /proc/<pid>/status (kB for memory fields).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// Nanoseconds on CPU of every live thread (schedstat's first field).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// One plain HTTP/1.1 request over a new connection; the status code.
pub fn http_status(port: u16, method: &str, path: &str, body: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        crate::client::KEY,
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Polls `GET path` until it answers 200; the time that took, from `since`.
pub fn wait_ok(port: u16, path: &str, since: Instant, timeout: Duration) -> Option<Duration> {
    while since.elapsed() < timeout {
        if http_status(port, "GET", path, "") == Some(200) {
            return Some(since.elapsed());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    None
}

/// `GET path` over a new connection; the body of a 200.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}
