//! Secret and environment references: `os.environ/NAME` (LiteLLM's) and
//! `file:PATH` (tollgate's, for Kubernetes Secret volumes that rotate).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where references are looked up. Tests pass their own environment so they
/// never touch the process's.
pub struct Resolver<'a> {
    /// Looks up an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The config's `environment_variables:` section, consulted first (as LiteLLM does).
    pub config_env: Vec<(String, String)>,
    /// Relative `file:` paths are taken from here (the config file's folder).
    pub base_dir: PathBuf,
    /// Every file a `file:` reference read, so a watcher can follow them.
    pub files_read: Vec<PathBuf>,
    /// Every file a `file:` reference named, read or not.
    pub referenced: Vec<PathBuf>,
    /// Digest of everything read (config text and secret files): a reload
    /// swaps only when this changes.
    pub fingerprint: Sha256,
}

const ENV_PREFIX: &str = "os.environ/";
const FILE_PREFIX: &str = "file:";

impl Resolver<'_> {
    /// An environment variable as LiteLLM sees it: the config's
    /// `environment_variables:` first, then the process's.
    pub fn var(&self, name: &str) -> Option<String> {
        match self.config_env.iter().find(|(k, _)| k == name) {
            Some((_, value)) => Some(value.clone()),
            None => (self.env)(name),
        }
    }

    /// Resolves one string: a reference becomes its value, anything else is
    /// returned as written. The error says which variable or file is missing.
    pub fn resolve(&mut self, raw: &str) -> Result<String, String> {
        if let Some(name) = raw.strip_prefix(ENV_PREFIX) {
            let name = name.trim();
            if name.is_empty() {
                return Err("`os.environ/` names no variable".into());
            }
            if let Some((_, value)) = self.config_env.iter().find(|(k, _)| k == name) {
                return Ok(value.clone());
            }
            return (self.env)(name).ok_or_else(|| format!("environment variable {name} is not set"));
        }
        if let Some(path) = raw.strip_prefix(FILE_PREFIX) {
            let path = self.base_dir.join(Path::new(path.trim()));
            // Watched even when it cannot be read yet, so its arrival reloads.
            self.referenced.push(path.clone());
            let text = read_regular(&path, MAX_SECRET_FILE_BYTES).map_err(|e| format!("secret file {e}"))?;
            self.fingerprint.update(path.as_os_str().as_encoded_bytes());
            self.fingerprint.update(text.as_bytes());
            self.files_read.push(path);
            // Secret volumes and `echo` leave a trailing newline that is never part of a key.
            return Ok(text.trim_end_matches(['\n', '\r']).to_string());
        }
        Ok(raw.to_string())
    }
}

/// Whether `raw` is an `os.environ/NAME` reference naming a variable.
pub fn names_variable(raw: &str) -> bool {
    raw.strip_prefix(ENV_PREFIX).is_some_and(|name| !name.trim().is_empty())
}

/// The largest `file:` secret: 64 KiB. Keys, tokens and certificates fit
/// many times over; `/dev/zero` or a misnamed log file is refused at once.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads a regular file of at most `limit` bytes as UTF-8. Devices, FIFOs,
/// sockets and folders are refused before they are opened: reading one may
/// never end (`/dev/zero`) or never start (a FIFO without a writer blocks the
/// open). The type is checked again on the opened file, and the read stops one
/// byte past the limit whatever the metadata said, so a file that grows or is
/// swapped in between cannot make the read unbounded. The error names the
/// file and the kind of problem, never its content.
pub fn read_regular(path: &Path, limit: u64) -> Result<String, String> {
    let name = path.display();
    let regular = |meta: &std::fs::Metadata| {
        if !meta.is_file() {
            return Err(format!(
                "{name} is not a regular file (a device, FIFO, socket or folder)"
            ));
        }
        if meta.len() > limit {
            return Err(format!("{name} is larger than {limit} bytes"));
        }
        Ok(())
    };
    let cannot = |e: std::io::Error| format!("{name} cannot be read: {}", e.kind());
    regular(&std::fs::metadata(path).map_err(cannot)?)?;
    let file = std::fs::File::open(path).map_err(cannot)?;
    regular(&file.metadata().map_err(cannot)?)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > limit {
        return Err(format!("{name} is larger than {limit} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| format!("{name} is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(env: &dyn Fn(&str) -> Option<String>) -> Resolver<'_> {
        Resolver {
            env,
            config_env: vec![],
            base_dir: std::env::temp_dir(),
            files_read: vec![],
            referenced: vec![],
            fingerprint: Sha256::new(),
        }
    }

    #[test]
    fn environment_references() {
        let env = |k: &str| (k == "SET").then(|| "value".to_string());
        let mut r = resolver(&env);
        assert_eq!(r.resolve("os.environ/SET").unwrap(), "value");
        assert_eq!(r.resolve("plain").unwrap(), "plain");
        let err = r.resolve("os.environ/UNSET").unwrap_err();
        assert!(err.contains("UNSET"), "{err}");
        r.config_env.push(("UNSET".into(), "from-config".into()));
        assert_eq!(r.resolve("os.environ/UNSET").unwrap(), "from-config");
    }

    #[test]
    fn file_references_trim_the_newline_and_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "sk-file\n").unwrap();
        let env = |_: &str| None;
        let mut r = resolver(&env);
        r.base_dir = dir.path().to_path_buf();
        assert_eq!(r.resolve("file:key").unwrap(), "sk-file");
        assert_eq!(r.files_read, vec![dir.path().join("key")]);
        assert!(r.resolve("file:missing").unwrap_err().contains("missing"));
        assert_eq!(r.referenced.len(), 2, "a missing file is still watched");
    }

    #[test]
    fn file_references_are_bounded_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'k'; MAX_SECRET_FILE_BYTES as usize + 1]).unwrap();
        std::fs::write(dir.path().join("fits"), vec![b'k'; MAX_SECRET_FILE_BYTES as usize]).unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let env = |_: &str| None;
        let mut r = resolver(&env);
        r.base_dir = dir.path().to_path_buf();
        let started = std::time::Instant::now();
        for (reference, expect) in [
            ("file:/dev/zero", "not a regular file"),
            ("file:fifo", "not a regular file"),
            ("file:.", "not a regular file"),
            ("file:big", "larger than 65536 bytes"),
        ] {
            let e = r.resolve(reference).unwrap_err();
            assert!(e.contains(expect), "{reference}: {e}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(r.resolve("file:fits").unwrap().len(), MAX_SECRET_FILE_BYTES as usize);
    }
}
