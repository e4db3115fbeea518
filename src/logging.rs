//! Log output: human-readable lines by default, JSON for Kubernetes.
//!
//! A request never waits on stdout, and never wakes another thread per line:
//! the formatted line is appended to a shared buffer, and a writer thread,
//! woken only when the buffer goes from empty to not empty, lets a batch
//! gather for a few milliseconds and writes it with one `write(2)`. At tens
//! of thousands of lines a second that is a few hundred wake-ups and writes a
//! second instead of one of each per line.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
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

/// How long exiting waits for the last lines to be written: a stdout that
/// nobody reads must not keep the process from ending.
const EXIT_WAIT: Duration = Duration::from_secs(2);

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.batcher.lock().closed = true;
        self.batcher.0.wake.notify_one();
        if let Some(writer) = self.writer.take() {
            let deadline = std::time::Instant::now() + EXIT_WAIT;
            while !writer.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if writer.is_finished() {
                let _ = writer.join();
            }
        }
    }
}

/// The writer and format once [`init`] ran: access lines go straight to it.
static OUTPUT: OnceLock<(Batcher, LogFormat)> = OnceLock::new();

/// Installs the global subscriber, writing to stdout. `RUST_LOG` filters
/// (default `info`).
pub fn init(format: LogFormat) -> LogGuard {
    let (batcher, guard) = start(std::io::stdout(), format);
    let _ = OUTPUT.set((batcher.clone(), format));
    // The OpenTelemetry SDK's own notes stay out unless asked for.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,opentelemetry=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(batcher);
    match format {
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
    }
    guard
}

/// Starts a writer thread that writes the batches to `out`, and its own
/// notes in `format`.
fn start(out: impl Write + Send + 'static, format: LogFormat) -> (Batcher, LogGuard) {
    let batcher = Batcher(Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        wake: Condvar::new(),
    }));
    let writer = {
        let batcher = batcher.clone();
        std::thread::Builder::new()
            .name("tollgate-log".into())
            .spawn(move || batcher.run(out, format))
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
    fn run(&self, mut out: impl Write, format: LogFormat) {
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
                let _ = out.write_all(&dropped_note(format, dropped, std::time::SystemTime::now()));
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

/// One request's access log line (target `tollgate::access`, level INFO).
#[derive(Debug)]
pub struct Access<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub model: &'a str,
    pub upstream: &'a str,
    pub server: &'a str,
    pub client: &'a str,
    pub stream: bool,
    pub status: u16,
    pub error: &'a str,
    pub duration_us: u64,
    pub ttfb_us: Option<u64>,
    pub bytes: u64,
    pub outcome: &'a str,
}

/// Writes an access line when `RUST_LOG` lets `tollgate::access` INFO
/// through. Once [`init`] ran, the line is formatted here, exactly as the
/// subscriber would (same fields, order and escaping, text or JSON), at a
/// fraction of the cost; before it (in-process tests), it is a tracing event.
pub fn access(line: &Access<'_>) {
    if !tracing::enabled!(target: "tollgate::access", tracing::Level::INFO) {
        return;
    }
    let Some((batcher, format)) = OUTPUT.get() else {
        return access_event(line);
    };
    thread_local! {
        static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    LINE.with_borrow_mut(|buf| emit(buf, line, *format, batcher));
}

/// Capacity a thread's line buffer keeps: an access line is a few hundred
/// bytes, and a thread must not hold on to what one huge line took.
const LINE_KEEP_CAPACITY: usize = 4 * 1024;

/// Formats `line` into `buf`, hands it to `batcher`, and gives back what
/// the buffer grew past [`LINE_KEEP_CAPACITY`].
fn emit(buf: &mut Vec<u8>, line: &Access<'_>, format: LogFormat, batcher: &Batcher) {
    buf.clear();
    match format {
        LogFormat::Text => line.text(buf, std::time::SystemTime::now()),
        LogFormat::Json => line.json(buf, std::time::SystemTime::now()),
    }
    batcher.push(buf);
    if buf.capacity() > LINE_KEEP_CAPACITY {
        buf.clear();
        buf.shrink_to(LINE_KEEP_CAPACITY);
    }
}

fn access_event(line: &Access<'_>) {
    tracing::info!(
        target: "tollgate::access",
        method = %line.method,
        path = line.path,
        model = line.model,
        upstream = line.upstream,
        server = line.server,
        client = line.client,
        stream = line.stream,
        status = line.status,
        error = line.error,
        duration_us = line.duration_us,
        ttfb_us = line.ttfb_us,
        bytes = line.bytes,
        outcome = line.outcome,
        "request finished"
    );
}

impl Access<'_> {
    /// tracing-subscriber's text line: `{time}  INFO tollgate::access:
    /// request finished key=value…`, strings quoted and escaped as `{:?}`.
    fn text(&self, out: &mut Vec<u8>, now: std::time::SystemTime) {
        rfc3339_micros(out, now);
        out.extend_from_slice(b"  INFO tollgate::access: request finished method=");
        out.extend_from_slice(self.method.as_bytes());
        let quoted = [
            (" path=", self.path),
            (" model=", self.model),
            (" upstream=", self.upstream),
            (" server=", self.server),
            (" client=", self.client),
        ];
        for (key, value) in quoted {
            out.extend_from_slice(key.as_bytes());
            debug_str(out, value);
        }
        out.extend_from_slice(if self.stream { b" stream=true" } else { b" stream=false" });
        number(out, " status=", u64::from(self.status));
        out.extend_from_slice(b" error=");
        debug_str(out, self.error);
        number(out, " duration_us=", self.duration_us);
        if let Some(ttfb) = self.ttfb_us {
            number(out, " ttfb_us=", ttfb);
        }
        number(out, " bytes=", self.bytes);
        out.extend_from_slice(b" outcome=");
        debug_str(out, self.outcome);
        out.push(b'\n');
    }

    /// tracing-subscriber's flattened JSON object, fields in the same order.
    fn json(&self, out: &mut Vec<u8>, now: std::time::SystemTime) {
        out.extend_from_slice(br#"{"timestamp":""#);
        rfc3339_micros(out, now);
        out.extend_from_slice(br#"","level":"INFO","message":"request finished","method":"#);
        json_str(out, self.method);
        let strings = [
            (r#","path":"#, self.path),
            (r#","model":"#, self.model),
            (r#","upstream":"#, self.upstream),
            (r#","server":"#, self.server),
            (r#","client":"#, self.client),
        ];
        for (key, value) in strings {
            out.extend_from_slice(key.as_bytes());
            json_str(out, value);
        }
        out.extend_from_slice(if self.stream {
            br#","stream":true"#
        } else {
            br#","stream":false"#
        });
        number(out, r#","status":"#, u64::from(self.status));
        out.extend_from_slice(br#","error":"#);
        json_str(out, self.error);
        number(out, r#","duration_us":"#, self.duration_us);
        if let Some(ttfb) = self.ttfb_us {
            number(out, r#","ttfb_us":"#, ttfb);
        }
        number(out, r#","bytes":"#, self.bytes);
        out.extend_from_slice(br#","outcome":"#);
        json_str(out, self.outcome);
        out.extend_from_slice(br#","target":"tollgate::access"}"#);
        out.push(b'\n');
    }
}

/// The writer's own line on lines it dropped, a WARN event in `format`.
fn dropped_note(format: LogFormat, dropped: u64, now: std::time::SystemTime) -> Vec<u8> {
    const MESSAGE: &str = "log lines dropped: the output could not keep up";
    let mut out = Vec::with_capacity(160);
    match format {
        LogFormat::Text => {
            rfc3339_micros(&mut out, now);
            out.extend_from_slice(b"  WARN tollgate::logging: ");
            out.extend_from_slice(MESSAGE.as_bytes());
            number(&mut out, " dropped=", dropped);
        }
        LogFormat::Json => {
            out.extend_from_slice(br#"{"timestamp":""#);
            rfc3339_micros(&mut out, now);
            out.extend_from_slice(br#"","level":"WARN","message":""#);
            out.extend_from_slice(MESSAGE.as_bytes());
            number(&mut out, r#"","dropped":"#, dropped);
            out.extend_from_slice(br#","target":"tollgate::logging"}"#);
        }
    }
    out.push(b'\n');
    out
}

fn number(out: &mut Vec<u8>, key: &str, value: u64) {
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Printable ASCII other than `"` and `\` needs no escaping in either format.
fn plain(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// `{:?}` of a string: quoted, with Rust's escapes.
fn debug_str(out: &mut Vec<u8>, value: &str) {
    if plain(value) {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        let _ = write!(out, "{value:?}");
    }
}

/// A JSON string, as serde_json writes it.
fn json_str(out: &mut Vec<u8>, value: &str) {
    if plain(value) {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, value);
    }
}

/// `2026-11-24T00:12:26.353423Z`: UTC with microseconds, as tracing-subscriber
/// prints it.
fn rfc3339_micros(out: &mut Vec<u8>, now: std::time::SystemTime) {
    let since = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm), for dates after 1970.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let fields = [
        (year, 4, b'-'),
        (month, 2, b'-'),
        (day, 2, b'T'),
        (of_day / 3600, 2, b':'),
        (of_day / 60 % 60, 2, b':'),
        (of_day % 60, 2, b'.'),
        (u64::from(since.subsec_micros()), 6, b'Z'),
    ];
    for (mut value, width, then) in fields {
        let mut digits = [b'0'; 6];
        for digit in digits.iter_mut().take(width).rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
        out.extend(digits.iter().take(width));
        out.push(then);
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

    /// What tracing-subscriber writes for `line`'s event, in `format`.
    fn subscriber_line(line: &Access<'_>, format: LogFormat) -> String {
        let sink = Sink::default();
        let writer = {
            let sink = sink.clone();
            move || sink.clone()
        };
        let builder = tracing_subscriber::fmt().with_writer(writer).with_ansi(false);
        let dispatch = match format {
            LogFormat::Text => tracing::Dispatch::new(builder.finish()),
            LogFormat::Json => {
                tracing::Dispatch::new(builder.json().flatten_event(true).with_current_span(false).finish())
            }
        };
        tracing::dispatcher::with_default(&dispatch, || access_event(line));
        let bytes = sink.0.lock().unwrap().0.clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn access_lines_match_the_subscriber_byte_for_byte_but_the_time() {
        let tricky = "de\"mo\\\u{e9}\n\u{200b}\u{1b}[31m";
        let lines = [
            Access {
                method: "POST",
                path: "/v1/chat/completions",
                model: "fast",
                upstream: "openai/gpt-4o",
                server: "api.openai.com",
                client: "anonymous",
                stream: true,
                status: 200,
                error: "-",
                duration_us: 1234,
                ttfb_us: Some(56),
                bytes: 789,
                outcome: "ok",
            },
            Access {
                method: "GET",
                path: "/v1/x\"y",
                model: tricky,
                upstream: "-",
                server: "-",
                client: tricky,
                stream: false,
                status: 404,
                error: "model_not_found",
                duration_us: 0,
                ttfb_us: None,
                bytes: u64::MAX,
                outcome: "gateway_error",
            },
        ];
        for line in &lines {
            for format in [LogFormat::Text, LogFormat::Json] {
                let theirs = subscriber_line(line, format);
                let mut ours = Vec::new();
                let now = std::time::SystemTime::now();
                match format {
                    LogFormat::Text => line.text(&mut ours, now),
                    LogFormat::Json => line.json(&mut ours, now),
                }
                let ours = String::from_utf8(ours).unwrap();
                // The timestamps are the first 27 bytes of both (after `{"timestamp":"` in JSON).
                let skip = if format == LogFormat::Json { 14 } else { 0 };
                let time = |s: &str| s[skip..skip + 27].to_owned();
                assert_eq!(ours[skip + 27..], theirs[skip + 27..], "{format:?}");
                assert_eq!(ours[..skip], theirs[..skip]);
                // The same shape (the clock itself is tested below).
                let shape = |t: String| t.replace(|c: char| c.is_ascii_digit(), "0");
                assert_eq!(shape(time(&ours)), shape(time(&theirs)));
            }
        }
    }

    #[test]
    fn the_dropped_note_is_a_warning_in_the_log_format() {
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let text = String::from_utf8(dropped_note(LogFormat::Text, 42, now)).unwrap();
        assert_eq!(
            text,
            "2023-11-14T22:13:20.000000Z  WARN tollgate::logging: log lines dropped: the output could not keep up dropped=42\n"
        );
        let json: serde_json::Value = serde_json::from_slice(&dropped_note(LogFormat::Json, 42, now)).unwrap();
        assert_eq!(json["level"], "WARN");
        assert_eq!(json["dropped"], 42);
        assert_eq!(json["target"], "tollgate::logging");
        assert_eq!(json["timestamp"], "2023-11-14T22:13:20.000000Z");
    }

    #[test]
    fn timestamps_are_utc_with_microseconds() {
        let at = |secs: u64, micros: u64| {
            let mut out = Vec::new();
            let time = std::time::UNIX_EPOCH + std::time::Duration::from_micros(secs * 1_000_000 + micros);
            rfc3339_micros(&mut out, time);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.000007Z");
        assert_eq!(at(1_700_000_000, 123_456), "2023-11-14T22:13:20.123456Z");
        assert_eq!(at(1_798_761_599, 999_999), "2026-12-31T23:59:59.999999Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
    }

    #[test]
    fn lines_are_written_in_batches_and_all_on_drop() {
        let sink = Sink::default();
        let (batcher, guard) = start(sink.clone(), LogFormat::Text);
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
        // 1000 lines pushed far faster than the batch window: a few writes,
        // not 1000 (room left for a test thread the machine preempts).
        assert!(writes <= 100, "{writes} writes for 1000 lines");
    }

    #[test]
    fn a_stdout_nobody_reads_does_not_hold_up_the_exit() {
        /// A write that never returns, like a pipe whose reader stopped.
        struct Stuck;
        impl Write for Stuck {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                loop {
                    std::thread::park();
                }
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (batcher, guard) = start(Stuck, LogFormat::Text);
        batcher.make_writer().write_all(b"never written\n").unwrap();
        let started = std::time::Instant::now();
        drop(guard);
        let waited = started.elapsed();
        assert!(waited >= EXIT_WAIT && waited < EXIT_WAIT * 2, "{waited:?}");
    }

    #[test]
    fn a_huge_line_does_not_stay_in_the_thread_buffer() {
        let (batcher, guard) = start(Sink::default(), LogFormat::Text);
        let huge = "m".repeat(8 * 1024 * 1024);
        let line = Access {
            method: "POST",
            path: "/v1/chat/completions",
            model: &huge,
            upstream: "-",
            server: "-",
            client: "anonymous",
            stream: false,
            status: 404,
            error: "model_not_found",
            duration_us: 0,
            ttfb_us: None,
            bytes: 0,
            outcome: "gateway_error",
        };
        let mut buf = Vec::new();
        emit(&mut buf, &line, LogFormat::Json, &batcher);
        assert!(buf.capacity() <= LINE_KEEP_CAPACITY, "kept {} bytes", buf.capacity());
        drop(guard);
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
        let (batcher, guard) = start(Stalled(gate.clone(), sink.clone()), LogFormat::Text);
        let line = vec![b'x'; 1023];
        let mut pushed = 0;
        // The first line wakes the writer, which takes it and then blocks on
        // the stalled sink.
        batcher.make_writer().write_all(b"first\n").unwrap();
        let taken = std::time::Instant::now();
        while !batcher.lock().buf.is_empty() {
            assert!(
                taken.elapsed() < std::time::Duration::from_secs(10),
                "the writer never woke"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
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
        let dropped: usize = note.rsplit("dropped=").next().unwrap().parse().unwrap();
        assert_eq!(kept + dropped, pushed, "{note}");
        assert!(text.starts_with("first\n"));
    }
}
