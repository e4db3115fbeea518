//! File watching for reloads: watch the *folders* holding the config and its
//! secret files, so Kubernetes' atomic `..data` symlink swap, editors' rename
//! saves and in-place writes are all seen; react only to the names that
//! matter, and debounce bursts for a bounded time.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long the watched files must stay quiet after an event before
/// reloading. Kubelet's update and an editor's save each finish well within it.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// The longest a reload waits after the first change, however busy the
/// files stay: a file rewritten without pause still reloads about once a second.
pub const MAX_DELAY: Duration = Duration::from_secs(1);

/// The link Kubernetes swaps atomically in a ConfigMap or Secret volume;
/// the visible files are links through it and are not touched by an update.
const KUBERNETES_DATA: &str = "..data";

/// Watches the folders of a set of files and reports "one of them changed",
/// debounced.
pub struct FolderWatch {
    watcher: RecommendedWatcher,
    watched: BTreeSet<PathBuf>,
    /// File names whose changes count.
    names: HashSet<OsString>,
    /// Every event, judged against `names` when it is taken: an event that
    /// arrives while a reload runs is judged by the names that reload found
    /// (a secret file it named that appears meanwhile is not missed).
    events: mpsc::UnboundedReceiver<notify::Event>,
}

/// The folder holding `file` (the file's own path may be a symlink chain that
/// is replaced wholesale, so the file itself is never watched).
pub fn folder_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether an event touches a name that matters. Reads never do: a reload
/// reads the file, and counting that read would schedule the next reload,
/// forever. Other files in the same folder (a log written beside the config)
/// never do either. An event naming no path (a queue overflow, a watcher
/// error) might be anything, so it counts.
fn matters(event: &notify::Event, names: &HashSet<OsString>) -> bool {
    if matches!(event.kind, notify::EventKind::Access(_)) {
        return false;
    }
    event.need_rescan()
        || event.paths.is_empty()
        || event
            .paths
            .iter()
            .any(|p| p.file_name().is_some_and(|n| names.contains(n)))
}

impl FolderWatch {
    pub fn new() -> notify::Result<Self> {
        let (tx, events) = mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // An error may mean missed events: a pathless event, which counts.
            let event = event.unwrap_or_else(|_| notify::Event::new(notify::EventKind::Any));
            if !matches!(event.kind, notify::EventKind::Access(_)) {
                let _ = tx.send(event);
            }
        })?;
        Ok(FolderWatch {
            watcher,
            watched: BTreeSet::new(),
            names: HashSet::new(),
            events,
        })
    }

    /// Watches exactly the folders of `files`, reacting to changes of those
    /// files' names and of a Kubernetes `..data` link beside them. Returns
    /// the folders that could not be watched, with why.
    pub fn set(&mut self, files: &[PathBuf]) -> Vec<(PathBuf, notify::Error)> {
        self.names = files
            .iter()
            .filter_map(|f| f.file_name().map(OsString::from))
            .chain([OsString::from(KUBERNETES_DATA)])
            .collect();
        let folders: BTreeSet<PathBuf> = files.iter().map(|f| folder_of(f)).collect();
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

    /// Waits for a change that matters, then for `DEBOUNCE` of quiet or
    /// `MAX_DELAY`, whichever comes first. `None` once the watcher has stopped.
    pub async fn changed(&mut self) -> Option<()> {
        let names = &self.names;
        settle(&mut self.events, |e| matters(e, names)).await
    }
}

/// The debounce: the first relevant event starts it; each later relevant one
/// restarts the quiet period, but never past `MAX_DELAY` after the first.
/// Other events are dropped as they come, without delaying anything.
async fn settle<E>(events: &mut mpsc::UnboundedReceiver<E>, relevant: impl Fn(&E) -> bool) -> Option<()> {
    while !relevant(&events.recv().await?) {}
    let latest = Instant::now() + MAX_DELAY;
    let mut quiet_from = Instant::now() + DEBOUNCE;
    loop {
        match tokio::time::timeout_at(quiet_from.min(latest), events.recv()).await {
            Ok(Some(event)) => {
                if relevant(&event) {
                    quiet_from = Instant::now() + DEBOUNCE;
                }
            }
            Ok(None) => return None,
            Err(_quiet_or_late) => return Some(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, EventKind, ModifyKind, RenameMode};

    fn event(kind: EventKind, paths: &[&str]) -> notify::Event {
        let mut e = notify::Event::new(kind);
        e.paths = paths.iter().map(PathBuf::from).collect();
        e
    }

    #[test]
    fn only_the_named_files_and_the_kubernetes_link_matter() {
        let names: HashSet<OsString> = ["proxy_config.yaml", "key", KUBERNETES_DATA]
            .into_iter()
            .map(OsString::from)
            .collect();
        let modify = EventKind::Modify(ModifyKind::Any);
        assert!(matters(&event(modify, &["/etc/tg/proxy_config.yaml"]), &names));
        assert!(matters(&event(modify, &["/run/secrets/key"]), &names));
        let swap = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert!(matters(&event(swap, &["/etc/tg/..data_tmp", "/etc/tg/..data"]), &names));
        assert!(matters(&event(EventKind::Any, &[]), &names));
        assert!(!matters(&event(modify, &["/etc/tg/tollgate.log"]), &names));
        assert!(!matters(
            &event(EventKind::Create(CreateKind::File), &["/etc/tg/.x.swp"]),
            &names
        ));
        let read = EventKind::Access(notify::event::AccessKind::Any);
        assert!(!matters(&event(read, &["/etc/tg/proxy_config.yaml"]), &names));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_settles_after_quiet_and_never_later_than_max_delay() {
        let (tx, mut rx) = mpsc::unbounded_channel::<bool>();
        let relevant = |e: &bool| *e;
        // A short burst: done 100 ms after its last event.
        let start = Instant::now();
        for _ in 0..3 {
            tx.send(true).unwrap();
        }
        assert_eq!(settle(&mut rx, relevant).await, Some(()));
        assert_eq!(start.elapsed(), DEBOUNCE);

        // Irrelevant events neither start nor prolong the wait.
        tx.send(false).unwrap();
        let noise = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            noise.send(true).unwrap();
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                noise.send(false).unwrap();
            }
        });
        let start = Instant::now();
        assert_eq!(settle(&mut rx, relevant).await, Some(()));
        assert_eq!(start.elapsed(), Duration::from_millis(500) + DEBOUNCE);

        // A change every 20 ms without end: done after MAX_DELAY anyway.
        let writer = tokio::spawn(async move {
            loop {
                if tx.send(true).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let start = Instant::now();
        assert_eq!(settle(&mut rx, relevant).await, Some(()));
        let took = start.elapsed();
        assert!(
            took >= MAX_DELAY && took < MAX_DELAY + Duration::from_millis(20),
            "{took:?}"
        );
        writer.abort();
    }
}
