//! Runs one SDK script with the pinned venv's Python under a time limit and
//! reads the JSON line it prints.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

/// A script that runs longer is killed and the test fails with its output.
const LIMIT: Duration = Duration::from_secs(40);

fn sdks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdks")
}

/// The venv's Python, after checking the venv holds exactly what
/// requirements.txt pins: a missing or stale venv fails here, with what to
/// run, rather than skipping.
fn python() -> PathBuf {
    let dir = sdks_dir();
    let python = dir.join(".venv/bin/python");
    let pinned = std::fs::read(dir.join("requirements.txt")).expect("tests/sdks/requirements.txt");
    let installed = std::fs::read(dir.join(".venv/.installed-requirements.txt")).ok();
    assert!(
        python.exists() && installed.as_deref() == Some(pinned.as_slice()),
        "the Python SDKs are not installed as tests/sdks/requirements.txt pins them ({}): run scripts/test.sh \
         (it creates tests/sdks/.venv with pip)",
        python.display()
    );
    python
}

/// How a script run ended.
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The script's last stdout line: its JSON report.
    pub answer: String,
}

impl Outcome {
    /// The script's report, failing the test with its output unless it
    /// exited cleanly with one.
    pub fn report(&self) -> Value {
        assert!(self.status.success(), "the SDK script failed\n{self}");
        serde_json::from_str(&self.answer).unwrap_or_else(|e| panic!("the script's report is not JSON ({e})\n{self}"))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "script exit: {}", self.status)?;
        writeln!(f, "--- stdout\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr\n{}", self.stderr.trim_end())
    }
}

/// Runs `script` (a file in tests/sdks) with `args`, in an environment holding
/// only PATH and a throwaway HOME, so no developer key or base URL leaks in.
pub async fn run(script: &str, args: &[&str]) -> Outcome {
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(python());
    command
        .arg(sdks_dir().join(script))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("NO_PROXY", "*")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(LIMIT, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} was killed after {LIMIT:?}"))
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    Outcome {
        status: output.status,
        answer: stdout.lines().last().unwrap_or_default().to_string(),
        stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
