//! Log output: human-readable lines by default, JSON for Kubernetes.
//!
//! A request never waits on stdout, and never wakes another thread per line:
//! the formatted line is appended to a shared buffer, and a writer thread,
//! woken only when the buffer goes from empty to not empty, lets a batch
//! gather for a few milliseconds and writes it with one `write(2)`. At tens
//! of thousands of lines a second that is a few hundred wake-ups and writes a
//! second instead of one of each per line.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// How long the writer lets lines gather after the first one of a batch.
const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// Bytes that may wait for the writer before new lines are dropped (and
/// counted): a stalled stdout must slow logging, never requests. Memory is
/// taken as lines arrive, not up front, so an idle gateway holds none of it.
const MAX_PENDING: usize = 4 * 1024 * 1024;

/// Capacity a batch buffer keeps after a burst; the rest goes back.
const KEEP_CAPACITY: usize = 256 * 1024;

/// Keeps the log writer running; dropping it writes out what is queued and
/// stops the writer.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    batcher: Batcher,
    writer: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.batcher.lock().closed = true;
        self.batcher.0.wake.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Installs the global subscriber, writing to stdout. `RUST_LOG` filters
/// (default `info`).
pub fn init(format: LogFormat) -> LogGuard {
    let (batcher, guard) = start(std::io::stdout());
    // The OpenTelemetry SDK's own notes stay out unless asked for.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,opentelemetry=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(batcher);
    match format {
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
    }
    guard
}

/// Starts a writer thread that writes the batches to `out`.
fn start(out: impl Write + Send + 'static) -> (Batcher, LogGuard) {
    let batcher = Batcher(Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        wake: Condvar::new(),
    }));
    let writer = {
        let batcher = batcher.clone();
        std::thread::Builder::new()
            .name("tollgate-log".into())
            .spawn(move || batcher.run(out))
            .map_err(|error| eprintln!("tollgate: cannot start the log writer: {error}"))
            .ok()
    };
    if writer.is_none() {
        // Nothing would drain the buffer: drop every line rather than grow.
        batcher.lock().closed = true;
    }
    let guard = LogGuard {
        batcher: batcher.clone(),
        writer,
    };
    (batcher, guard)
}

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    /// Lines dropped since the last batch because the buffer was full.
    dropped: u64,
    /// Set when the guard is dropped: write what is left and stop.
    closed: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

/// The shared buffer: the subscriber's writer and the writer thread's source.
#[derive(Clone)]
struct Batcher(Arc<Shared>);

impl Batcher {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves a buffer of whole lines.
        self.0.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends one formatted line (the subscriber writes each event whole).
    fn push(&self, line: &[u8]) {
        let mut pending = self.lock();
        if pending.closed || pending.buf.len() + line.len() > MAX_PENDING {
            pending.dropped += 1;
            return;
        }
        let first = pending.buf.is_empty();
        pending.buf.extend_from_slice(line);
        drop(pending);
        if first {
            self.0.wake.notify_one();
        }
    }

    /// The writer thread: waits for a first line, lets the batch gather,
    /// writes it, until closed and empty.
    fn run(&self, mut out: impl Write) {
        let mut batch = Vec::new();
        loop {
            let mut pending = self.lock();
            while pending.buf.is_empty() && pending.dropped == 0 && !pending.closed {
                pending = self
                    .0
                    .wake
                    .wait(pending)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if !pending.closed {
                drop(pending);
                std::thread::sleep(BATCH_WINDOW);
                pending = self.lock();
            }
            std::mem::swap(&mut pending.buf, &mut batch);
            let dropped = std::mem::take(&mut pending.dropped);
            let last = pending.closed;
            drop(pending);
            // Nowhere to report a failed write to but the stream that failed.
            let _ = out.write_all(&batch);
            if dropped > 0 {
                let _ = writeln!(
                    out,
                    "tollgate: {dropped} log line(s) dropped: the output could not keep up"
                );
            }
            let _ = out.flush();
            batch.clear();
            batch.shrink_to(KEEP_CAPACITY);
            if last && self.lock().buf.is_empty() {
                return;
            }
        }
    }
}

/// One event's writer: the subscriber calls `write_all` once with the whole
/// formatted line.
pub struct LineWriter<'a>(&'a Batcher);

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.0.push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batcher {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read after the writer stopped.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let mut sink = self.0.lock().unwrap();
            sink.0.extend_from_slice(bytes);
            sink.1 += 1;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_batches_and_all_on_drop() {
        let sink = Sink::default();
        let (batcher, guard) = start(sink.clone());
        for i in 0..1000 {
            batcher
                .make_writer()
                .write_all(format!("line {i}\n").as_bytes())
                .unwrap();
        }
        drop(guard);
        let (bytes, writes) = sink.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1000);
        assert_eq!(lines[0], "line 0");
        assert_eq!(lines[999], "line 999");
        // 1000 lines pushed far faster than the batch window: a few writes, not 1000.
        assert!(writes <= 10, "{writes} writes for 1000 lines");
    }

    #[test]
    fn a_full_buffer_drops_lines_and_says_how_many() {
        /// A sink that blocks until released, like a stalled pipe.
        struct Stalled(Arc<(Mutex<bool>, Condvar)>, Sink);
        impl Write for Stalled {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                let (open, released) = &*self.0;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = released.wait(open).unwrap();
                }
                self.1.write(bytes)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let sink = Sink::default();
        let (batcher, guard) = start(Stalled(gate.clone(), sink.clone()));
        let line = vec![b'x'; 1023];
        let mut pushed = 0;
        // The first line wakes the writer, which then blocks on the stalled sink.
        batcher.make_writer().write_all(b"first\n").unwrap();
        std::thread::sleep(BATCH_WINDOW * 4);
        for _ in 0..(MAX_PENDING / 1024 + 100) {
            let mut l = line.clone();
            l.push(b'\n');
            batcher.make_writer().write_all(&l).unwrap();
            pushed += 1;
        }
        assert!(batcher.lock().dropped >= 99, "dropped {}", batcher.lock().dropped);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().0.clone()).unwrap();
        let kept = text.lines().filter(|l| l.starts_with('x')).count();
        let note = text
            .lines()
            .find(|l| l.contains("dropped"))
            .expect("a note on the dropped lines");
        let dropped: usize = note.split(' ').nth(1).unwrap().parse().unwrap();
        assert_eq!(kept + dropped, pushed, "{note}");
        assert!(text.starts_with("first\n"));
    }
}
