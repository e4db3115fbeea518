//! LiteLLM's `include:`: YAML files whose sections are merged into the
//! config that names them, as LiteLLM 1.110 merges them: a list is extended
//! (`model_list` across files), any other value replaced; each path is
//! relative to the file that names it, and a file is read at most once.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::build::Report;
use super::resolve::read_regular;
use super::MAX_CONFIG_BYTES;

/// At most this many included files in all.
const MAX_FILES: usize = 64;

/// What the included files brought besides their sections.
#[derive(Default)]
pub(super) struct Included {
    /// Each file read: the watcher reloads when one changes.
    pub(super) paths: Vec<PathBuf>,
}

/// Merges the files `root`'s `include` names (and those they name) into
/// `root`, in order, and feeds each file's path and text to `fingerprint`
/// (a change in an included file is a change of the config).
pub(super) fn merge(
    root: &mut Map<String, Value>,
    config_dir: &Path,
    config_path: Option<&Path>,
    fingerprint: &mut Sha256,
    report: &mut Report,
) -> Included {
    let mut included = Included::default();
    let mut pending = entries(root.remove("include"), config_dir, "include", report);
    let mut seen: HashSet<PathBuf> = config_path.and_then(absolute).into_iter().collect();
    while let Some((entry, dir, at)) = pending.pop_front() {
        let Some(path) = absolute(&dir.join(&entry)) else {
            report.problem(at, "names no usable path");
            continue;
        };
        if !seen.insert(path.clone()) {
            continue;
        }
        if included.paths.len() == MAX_FILES {
            report.problem(at, format!("more than {MAX_FILES} included files"));
            break;
        }
        included.paths.push(path.clone());
        let text = match read_regular(&path, MAX_CONFIG_BYTES) {
            Ok(text) => text,
            Err(error) => {
                report.problem(at, format!("the included file {error}"));
                continue;
            }
        };
        fingerprint.update(path.as_os_str().as_encoded_bytes());
        fingerprint.update(text.as_bytes());
        let (value, duplicate) = match super::yaml::parse(&text) {
            Ok(parsed) => parsed,
            Err(problem) => {
                report.problem(format!("{at} ({}), {}", path.display(), problem.at), problem.message);
                continue;
            }
        };
        if let Some(duplicate) = duplicate {
            report.note(format!("{at} ({}): {duplicate}", path.display()));
        }
        let Value::Object(mut sections) = value else {
            report.problem(at, format!("{} is not a YAML mapping", path.display()));
            continue;
        };
        let here = path.parent().unwrap_or(config_dir);
        pending.extend(entries(
            sections.remove("include"),
            here,
            &format!("{at} → include"),
            report,
        ));
        for (key, value) in sections {
            match (root.get_mut(&key), value) {
                (Some(Value::Array(base)), Value::Array(more)) => base.extend(more),
                (_, value) => {
                    root.insert(key, value);
                }
            }
        }
    }
    included
}

/// The paths an `include` value names, each with the folder it is relative
/// to and its place for messages. LiteLLM takes a list of paths only.
fn entries(value: Option<Value>, dir: &Path, at: &str, report: &mut Report) -> VecDeque<(String, PathBuf, String)> {
    let list = match value {
        None | Some(Value::Null) => return VecDeque::new(),
        Some(Value::Array(list)) => list,
        Some(_) => {
            report.problem(at, "must be a list of file paths");
            return VecDeque::new();
        }
    };
    let mut out = VecDeque::with_capacity(list.len());
    for (i, entry) in list.into_iter().enumerate() {
        match entry {
            Value::String(path) if !path.trim().is_empty() => {
                out.push_back((path.trim().to_string(), dir.to_path_buf(), format!("{at}[{i}]")));
            }
            _ => report.problem(format!("{at}[{i}]"), "must be a file path"),
        }
    }
    out
}

/// The absolute path with `.` and `..` taken out by their names, as
/// Python's `os.path.abspath` (LiteLLM's): symbolic links stay, so a
/// Kubernetes ConfigMap's file keeps its own name for the watcher.
fn absolute(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let path = std::path::absolute(path).ok()?;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Some(out)
}
