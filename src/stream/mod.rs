//! Reads token usage from a response body as it passes, without holding it
//! back: SSE events are scanned in place and only the usage chunk tollgate
//! asked for on the client's behalf is cut out; a JSON body is read at its end.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::body::BoxError;
use crate::spend::{parse_answer_usage, parse_usage, Usage};

/// The longest SSE event kept to be scanned (or held, to be dropped): past
/// it, scanning stops for the rest of the body and every byte just passes.
pub const MAX_EVENT: usize = 1 << 20;

/// The longest JSON body kept to read its `usage` at the end.
pub const MAX_JSON: usize = 4 << 20;

/// Watches one response body for usage. Feed it every data chunk with
/// [`on_chunk`](Self::on_chunk) and send on what it returns, then call
/// [`finish`](Self::finish) once at the end and send that too.
///
/// A chunk that holds only complete events, none of them the usage chunk to
/// drop, comes back as the very same `Bytes`, untouched and without
/// allocating. Bytes are held back only while dropping is on, and only those
/// of an event cut by a chunk boundary that might still be the usage chunk;
/// they go out as soon as the event is complete, or earlier once its
/// `"choices"` turn out not to be empty.
#[derive(Debug, Clone)]
pub struct UsageScan {
    mode: Mode,
    /// Cut out the usage-only chunk (`"choices":[]` and a `usage` object).
    drop_usage: bool,
    /// SSE: the bytes so far of an event cut by a chunk boundary.
    /// JSON: the body so far, once it came in more than one chunk.
    tail: BytesMut,
    /// JSON: the body's only chunk so far, kept by reference, not copied.
    first: Option<Bytes>,
    /// Where the end-of-event search stands at the end of `tail`.
    line: Line,
    /// `tail` has not been sent yet: it might be the chunk to drop.
    held: bool,
    /// Offset in `tail` where the search for a non-empty `"choices"` resumes.
    checked: usize,
    usage: Option<Usage>,
    dropped: bool,
    overflowed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sse,
    Json,
    /// Not scanned: compressed, over the cap, or finished.
    Off,
}

/// The end-of-event search state: events end at an empty line, and lines end
/// at `\n`, `\r\n` or a lone `\r` (the SSE spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// At the start of a line.
    Start,
    /// Inside a line.
    Middle,
    /// Just after a `\r` that ended a non-empty line (a `\n` may follow).
    Cr,
    /// Just after a `\r` that ended an empty line: the event has ended, after
    /// a `\n` too if one follows.
    BlankCr,
}

impl UsageScan {
    /// A scanner for an SSE body; `drop_usage_chunk` cuts out the usage-only
    /// chunk (set it when tollgate asked for usage the client did not).
    pub fn new(drop_usage_chunk: bool) -> Self {
        UsageScan {
            mode: Mode::Sse,
            drop_usage: drop_usage_chunk,
            tail: BytesMut::new(),
            first: None,
            line: Line::Start,
            held: false,
            checked: 0,
            usage: None,
            dropped: false,
            overflowed: false,
        }
    }

    /// A scanner for a whole JSON body: it forwards every chunk as it comes
    /// and keeps a copy (up to [`MAX_JSON`]) to read `usage` from at the end.
    pub fn json() -> Self {
        UsageScan {
            mode: Mode::Json,
            ..Self::new(false)
        }
    }

    /// The scanner for an upstream response, by its headers: SSE for
    /// `text/event-stream`, JSON otherwise, none for a compressed body.
    pub fn for_response(headers: &HeaderMap, drop_usage_chunk: bool) -> Self {
        let encoded = headers
            .get(CONTENT_ENCODING)
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
        let sse = headers.get(CONTENT_TYPE).is_some_and(|v| {
            let v = v.as_bytes();
            v.get(..17)
                .is_some_and(|v| v.eq_ignore_ascii_case(b"text/event-stream"))
        });
        match (encoded, sse) {
            (true, _) => UsageScan {
                mode: Mode::Off,
                ..Self::new(false)
            },
            (false, true) => Self::new(drop_usage_chunk),
            (false, false) => Self::json(),
        }
    }

    /// Whether the body sent on may be shorter than the one received (an
    /// upstream `content-length` must then not be relayed).
    pub fn may_drop(&self) -> bool {
        self.mode == Mode::Sse && self.drop_usage
    }

    /// The usage read so far: for a stream, the last event that carried it;
    /// for a JSON body, known after [`finish`](Self::finish).
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Whether a usage chunk was cut out.
    pub fn dropped(&self) -> bool {
        self.dropped
    }

    /// Whether an event or body outgrew its cap, so scanning stopped.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Scans one chunk; returns the bytes to send on now.
    pub fn on_chunk(&mut self, chunk: Bytes) -> Bytes {
        match self.mode {
            Mode::Off => chunk,
            Mode::Json => self.json_chunk(chunk),
            Mode::Sse => self.sse_chunk(chunk),
        }
    }

    /// The body has ended: reads a JSON body's usage, scans an SSE event left
    /// without its final empty line, and returns any bytes still held, to be
    /// sent last. Scanning stops here.
    pub fn finish(&mut self) -> Bytes {
        let mode = std::mem::replace(&mut self.mode, Mode::Off);
        let tail = std::mem::take(&mut self.tail);
        match mode {
            Mode::Json => {
                self.usage = match self.first.take() {
                    Some(whole) => parse_answer_usage(&whole),
                    None => parse_answer_usage(&tail),
                };
                Bytes::new()
            }
            Mode::Sse if !tail.is_empty() => {
                let keep = self.on_event(&tail, self.held);
                match self.held && keep {
                    true => tail.freeze(),
                    false => Bytes::new(),
                }
            }
            Mode::Sse | Mode::Off => Bytes::new(),
        }
    }

    fn json_chunk(&mut self, chunk: Bytes) -> Bytes {
        let kept = self.first.as_ref().map_or(self.tail.len(), Bytes::len);
        if kept + chunk.len() > MAX_JSON {
            self.stop();
        } else if self.tail.is_empty() && self.first.is_none() {
            // Most answers arrive in one chunk: no copy then.
            self.first = Some(chunk.clone());
        } else {
            if let Some(first) = self.first.take() {
                self.tail.extend_from_slice(&first);
            }
            self.tail.extend_from_slice(&chunk);
        }
        chunk
    }

    fn sse_chunk(&mut self, chunk: Bytes) -> Bytes {
        let mut out = Out::default();
        let mut at = 0;
        if !self.tail.is_empty() {
            let mut line = self.line;
            let Some((event, end)) = event_end(&chunk, &mut line).and_then(|end| Some((chunk.get(..end)?, end))) else {
                self.line = line;
                return self.grow_tail(chunk);
            };
            self.tail.extend_from_slice(event);
            let tail = std::mem::take(&mut self.tail);
            let keep = self.on_event(&tail, self.held);
            match self.held {
                true if keep => out.push(&chunk, &tail),
                true => {}
                false => out.keep(&chunk, 0, end),
            }
            self.tail = tail;
            self.tail.clear();
            (self.line, self.held, self.checked) = (Line::Start, false, 0);
            at = end;
        }
        while let Some(rest) = chunk.get(at..).filter(|rest| !rest.is_empty()) {
            let mut line = Line::Start;
            let Some((event, len)) = event_end(rest, &mut line).and_then(|len| Some((rest.get(..len)?, len))) else {
                // An event cut by the chunk boundary: keep its start.
                self.line = line;
                self.tail.extend_from_slice(rest);
                self.held = self.drop_usage && may_be_usage_only(&self.tail, &mut self.checked);
                if !self.held || self.tail.len() > MAX_EVENT {
                    out.keep(&chunk, at, chunk.len());
                }
                if self.tail.len() > MAX_EVENT {
                    self.stop();
                }
                break;
            };
            let end = at + len;
            if self.on_event(event, self.drop_usage) {
                out.keep(&chunk, at, end);
            }
            at = end;
        }
        out.finish(chunk)
    }

    /// A chunk that does not complete the event in `tail`.
    fn grow_tail(&mut self, chunk: Bytes) -> Bytes {
        self.tail.extend_from_slice(&chunk);
        let over = self.tail.len() > MAX_EVENT;
        if self.held && (over || !may_be_usage_only(&self.tail, &mut self.checked)) {
            // Not the usage chunk after all (or too long to tell): send what
            // was held and this chunk now.
            self.held = false;
            let out = match over {
                true => self.tail.split().freeze(),
                false => Bytes::copy_from_slice(&self.tail),
            };
            if over {
                self.stop();
            }
            return out;
        }
        if over {
            self.stop();
        }
        match self.held {
            true => Bytes::new(),
            false => chunk,
        }
    }

    fn stop(&mut self) {
        self.mode = Mode::Off;
        self.overflowed = true;
        self.held = false;
        self.tail = BytesMut::new();
        self.first = None;
    }

    /// Reads usage from one complete event; returns whether to send it on:
    /// false only for the usage-only chunk, and only when `droppable`.
    fn on_event(&mut self, event: &[u8], droppable: bool) -> bool {
        if !has_usage_object(event) {
            return true;
        }
        let payload = data(event);
        let Some(usage) = parse_usage(&payload) else {
            return true;
        };
        self.usage = Some(self.usage.map_or(usage, |earlier| earlier.updated(usage)));
        // An event cut by a chunk boundary goes out early once its bytes show
        // a non-empty `"choices"` anywhere; a whole one is judged the same
        // way, so where the boundary falls never changes what is cut.
        let drop = droppable && choices_empty(&payload) && may_be_usage_only(event, &mut 0);
        self.dropped |= drop;
        !drop
    }
}

pin_project_lite::pin_project! {
    /// A body with a [`UsageScan`] run over its data frames, or with none,
    /// relayed as is. Bytes the scan holds back go out before the body ends,
    /// and before its trailers.
    pub struct Scanned<B> {
        #[pin]
        inner: B,
        scan: Option<UsageScan>,
        // Trailers waiting behind the scan's last held bytes.
        trailers: Option<Frame<Bytes>>,
        // `inner` is done and so is the scan.
        ended: bool,
    }
}

impl<B> Scanned<B> {
    pub fn new(inner: B, scan: Option<UsageScan>) -> Self {
        Scanned {
            inner,
            scan,
            trailers: None,
            ended: false,
        }
    }

    /// The usage read so far (see [`UsageScan::usage`]).
    pub fn usage(&self) -> Option<Usage> {
        self.scan.as_ref().and_then(UsageScan::usage)
    }
}

impl<B> Body for Scanned<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let Some(scan) = this.scan.as_mut() else {
            return this.inner.poll_frame(cx).map(|f| f.map(|r| r.map_err(Into::into)));
        };
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(trailers)));
        }
        // A chunk the scan holds whole sends nothing: read on.
        while !*this.ended {
            let frame = match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                None => {
                    *this.ended = true;
                    let rest = scan.finish();
                    if rest.is_empty() {
                        break;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
            };
            // A sized body may end without a final `None` poll.
            let last = this.inner.is_end_stream();
            match frame.into_data() {
                Ok(data) => {
                    let mut out = scan.on_chunk(data);
                    if last {
                        *this.ended = true;
                        out = join(out, scan.finish());
                    }
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
                Err(trailers) => {
                    let rest = scan.finish();
                    if rest.is_empty() {
                        return Poll::Ready(Some(Ok(trailers)));
                    }
                    *this.trailers = Some(trailers);
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
            }
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        match self.scan {
            None => self.inner.is_end_stream(),
            Some(_) => self.ended && self.trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        let hint = self.inner.size_hint();
        match &self.scan {
            // Cutting a chunk out makes the length unknown in advance.
            Some(scan) if scan.may_drop() => {
                let mut open = SizeHint::new();
                if let Some(upper) = hint.upper() {
                    open.set_upper(upper);
                }
                open
            }
            _ => hint,
        }
    }
}

/// `a` then `b`, copied only when both have bytes.
fn join(a: Bytes, b: Bytes) -> Bytes {
    match (a.is_empty(), b.is_empty()) {
        (_, true) => a,
        (true, false) => b,
        (false, false) => [a, b].concat().into(),
    }
}

/// What one call sends on: ranges of the chunk, in order, possibly with
/// other bytes between them. One whole-chunk range costs nothing.
#[derive(Default)]
struct Out {
    run: Option<(usize, usize)>,
    buf: Option<BytesMut>,
}

impl Out {
    fn keep(&mut self, chunk: &[u8], start: usize, end: usize) {
        match &mut self.run {
            Some((_, run_end)) if *run_end == start => *run_end = end,
            _ => {
                self.flush(chunk);
                self.run = Some((start, end));
            }
        }
    }

    fn push(&mut self, chunk: &[u8], bytes: &[u8]) {
        self.flush(chunk);
        self.buf.get_or_insert_with(BytesMut::new).extend_from_slice(bytes);
    }

    fn flush(&mut self, chunk: &[u8]) {
        if let Some((start, end)) = self.run.take() {
            self.buf
                .get_or_insert_with(BytesMut::new)
                .extend_from_slice(chunk.get(start..end).unwrap_or_default());
        }
    }

    fn finish(self, chunk: Bytes) -> Bytes {
        match (self.buf, self.run) {
            (None, None) => Bytes::new(),
            (None, Some((0, end))) if end == chunk.len() => chunk,
            (None, Some((start, end))) => chunk.slice(start..end),
            (Some(mut buf), run) => {
                if let Some((start, end)) = run {
                    buf.extend_from_slice(chunk.get(start..end).unwrap_or_default());
                }
                buf.freeze()
            }
        }
    }
}

/// Where the event that `line` is in ends in `bytes` (just past its empty
/// line), or `None` when it goes on past them; `line` is left where the
/// search stands.
fn event_end(bytes: &[u8], line: &mut Line) -> Option<usize> {
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match *line {
            Line::Middle => match bytes.get(i..).and_then(find_line_end) {
                Some(k) => {
                    i += k;
                    *line = if bytes.get(i) == Some(&b'\n') {
                        Line::Start
                    } else {
                        Line::Cr
                    };
                }
                None => return None,
            },
            Line::Start if b == b'\n' => {
                *line = Line::Start;
                return Some(i + 1);
            }
            Line::Start | Line::Cr if b == b'\r' => *line = Line::BlankCr,
            Line::Cr if b == b'\n' => *line = Line::Start,
            Line::Start | Line::Cr => *line = Line::Middle,
            Line::BlankCr => {
                *line = Line::Start;
                return Some(if b == b'\n' { i + 1 } else { i });
            }
        }
        i += 1;
    }
    None
}

/// Whether the event has a `"usage"` key with an object value: the cheap
/// test that keeps content chunks (`"usage":null` or none) from being parsed.
/// A raw `"` only ever delimits a JSON string, so text cannot fake the key.
fn has_usage_object(event: &[u8]) -> bool {
    let mut from = 0;
    while let Some(k) = event.get(from..).and_then(|rest| find(rest, b"\"usage\"")) {
        let after = from + k + 7;
        if let Some(colon) = skip_ws(event, after).filter(|&i| event.get(i) == Some(&b':')) {
            if skip_ws(event, colon + 1).is_some_and(|i| event.get(i) == Some(&b'{')) {
                return true;
            }
        }
        from = after;
    }
    false
}

/// Whether an incomplete event might still be the usage-only chunk: false
/// once a non-empty `"choices"` array has begun. `checked` is where the next
/// look starts, so a growing event is read once.
fn may_be_usage_only(event: &[u8], checked: &mut usize) -> bool {
    const KEY: &[u8] = b"\"choices\"";
    while let Some(k) = event.get(*checked..).and_then(|rest| find(rest, KEY)) {
        let key = *checked + k;
        // The first byte of the array's first element, if it has arrived.
        let first = skip_ws(event, key + KEY.len()).and_then(|i| match event.get(i) {
            Some(b':') => skip_ws(event, i + 1).map(|j| (event.get(j) == Some(&b'[')).then_some(j)),
            _ => Some(None),
        });
        match first {
            None => {
                *checked = key; // Cut mid-way: look again when more arrives.
                return true;
            }
            Some(None) => *checked = key + 1, // Not an array: not the key we want.
            Some(Some(open)) => match skip_ws(event, open + 1) {
                None => {
                    *checked = key;
                    return true;
                }
                Some(i) if event.get(i) == Some(&b']') => *checked = i,
                Some(_) => return false,
            },
        }
    }
    // A key cut at the end is found again next time.
    *checked = event.len().saturating_sub(KEY.len() - 1).max(*checked);
    true
}

/// The event's data: its `data:` lines' values joined by `\n` (one line, the
/// usual case, is borrowed).
fn data(event: &[u8]) -> Cow<'_, [u8]> {
    let mut out = Cow::Borrowed(&[][..]);
    let mut lines = 0;
    for line in event.split(|&b| b == b'\n' || b == b'\r') {
        let value = match line.strip_prefix(b"data") {
            Some([]) => &[][..],
            Some([b':', b' ', rest @ ..]) | Some([b':', rest @ ..]) => rest,
            _ => continue,
        };
        lines += 1;
        match lines {
            1 => out = Cow::Borrowed(value),
            _ => {
                let joined = out.to_mut();
                joined.push(b'\n');
                joined.extend_from_slice(value);
            }
        }
    }
    out
}

/// Whether a chunk's top-level `choices` is an empty array. `IgnoredAny`
/// takes no space, so the `Vec` never allocates.
fn choices_empty(payload: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Chunk {
        choices: Option<Vec<IgnoredAny>>,
    }
    serde_json::from_slice::<Chunk>(payload).is_ok_and(|c| c.choices.is_some_and(|c| c.is_empty()))
}

/// The first index at or after `i` that is not JSON whitespace.
fn skip_ws(bytes: &[u8], i: usize) -> Option<usize> {
    let k = bytes
        .get(i..)?
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
    Some(i + k)
}

/// Where `key` (a quoted name, `"usage"`) first occurs in `hay`. Reads eight
/// bytes at a time for a `"` followed by the name's first letter, which is
/// rare in SSE events, and only compares the whole key there.
fn find(hay: &[u8], key: &[u8]) -> Option<usize> {
    let &[quote, letter, ..] = key else {
        return memchr::memmem::find(hay, key);
    };
    let (quote, letter) = (splat(quote), splat(letter));
    let at_key = |i: usize| hay.get(i..).is_some_and(|rest| rest.starts_with(key));
    let mut at = 0;
    // Windows overlap by a byte, so a pair is never split between two.
    while let Some(&word) = hay.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(word);
        let mut pairs = zero_bytes(word ^ quote) & (zero_bytes(word ^ letter) >> 8);
        while pairs != 0 {
            let i = at + (pairs.trailing_zeros() / 8) as usize;
            if at_key(i) {
                return Some(i);
            }
            pairs &= pairs - 1;
        }
        at += 7;
    }
    (at..hay.len()).find(|&i| at_key(i))
}

/// The first `\n` or `\r` in `bytes`, read eight bytes at a time.
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    let (words, rest) = bytes.as_chunks::<8>();
    let mut at = 0;
    for &word in words {
        let word = u64::from_le_bytes(word);
        let ends = zero_bytes(word ^ splat(b'\n')) | zero_bytes(word ^ splat(b'\r'));
        if ends != 0 {
            return Some(at + (ends.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = rest.iter().position(|&b| b == b'\n' || b == b'\r');
    rest.map(|k| at + k)
}

/// `byte` in each of a word's eight bytes.
const fn splat(byte: u8) -> u64 {
    byte as u64 * 0x0101_0101_0101_0101
}

/// The top bit set in exactly those bytes of `word` that are zero.
const fn zero_bytes(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((word & LOW7).wrapping_add(LOW7)) | word | LOW7)
}

#[cfg(test)]
mod tests;
