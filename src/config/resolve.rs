//! Secret and environment references: `os.environ/NAME` (LiteLLM's) and
//! `file:PATH` (tollgate's, for Kubernetes Secret volumes that rotate).

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
    /// Digest of everything read (config text and secret files): a reload
    /// swaps only when this changes.
    pub fingerprint: Sha256,
}

const ENV_PREFIX: &str = "os.environ/";
const FILE_PREFIX: &str = "file:";

impl Resolver<'_> {
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
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("secret file {} cannot be read: {}", path.display(), e.kind()))?;
            self.fingerprint.update(path.as_os_str().as_encoded_bytes());
            self.fingerprint.update(text.as_bytes());
            self.files_read.push(path);
            // Secret volumes and `echo` leave a trailing newline that is never part of a key.
            return Ok(text.trim_end_matches(['\n', '\r']).to_string());
        }
        Ok(raw.to_string())
    }
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
    }
}
