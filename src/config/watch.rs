//! File watching for reloads: watch the *folders* holding the config and its
//! secret files, so Kubernetes' atomic `..data` symlink swap, editors' rename
//! saves and in-place writes are all seen, and debounce bursts of events.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// How long the folder must stay quiet after an event before reloading.
/// Kubelet's update and an editor's save each finish well within it.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Watches a set of folders and reports "something changed", debounced.
pub struct FolderWatch {
    watcher: RecommendedWatcher,
    watched: BTreeSet<PathBuf>,
    events: mpsc::UnboundedReceiver<()>,
}

/// The folder holding `file` (the file's own path may be a symlink chain that
/// is replaced wholesale, so the file itself is never watched).
pub fn folder_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl FolderWatch {
    pub fn new() -> notify::Result<Self> {
        let (tx, events) = mpsc::unbounded_channel();
        // Any change counts: create, rename, remove, modify, even "other".
        // Only reads do not: a reload reads the file, and counting that read
        // would schedule the next reload, forever.
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
                let _ = tx.send(());
            }
        })?;
        Ok(FolderWatch {
            watcher,
            watched: BTreeSet::new(),
            events,
        })
    }

    /// Makes the watched set exactly `folders`. Returns the folders that
    /// could not be watched, with why.
    pub fn set(&mut self, folders: BTreeSet<PathBuf>) -> Vec<(PathBuf, notify::Error)> {
        let mut failed = Vec::new();
        for gone in self.watched.difference(&folders).cloned().collect::<Vec<_>>() {
            let _ = self.watcher.unwatch(&gone);
            self.watched.remove(&gone);
        }
        for folder in folders {
            if self.watched.contains(&folder) {
                continue;
            }
            match self.watcher.watch(&folder, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(folder);
                }
                Err(e) => failed.push((folder, e)),
            }
        }
        failed
    }

    /// Waits for a change, then for `DEBOUNCE` of quiet. `None` once the
    /// watcher has stopped.
    pub async fn changed(&mut self) -> Option<()> {
        self.events.recv().await?;
        loop {
            match tokio::time::timeout(DEBOUNCE, self.events.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return None,
                Err(_quiet) => return Some(()),
            }
        }
    }
}
