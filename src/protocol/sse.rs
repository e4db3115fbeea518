//! Server-sent events: a framer that turns arbitrarily split bytes into whole
//! events, and the few lines that write one.
//!
//! The framer follows the WHATWG event-stream rules that matter for LLM
//! streams: lines end in `\n`, `\r\n` or `\r` (a `\r\n` may be split across
//! chunks), `:` lines are comments, `data:` lines of one event are joined
//! with `\n`, and an empty line ends the event. One leniency: a last event
//! cut off by the end of the body without its blank line is still delivered,
//! since some providers close right after `data: [DONE]`.

/// The longest event the framer holds (its unfinished line plus its data).
/// Past it the stream is refused: one event this large is a broken upstream.
pub const MAX_EVENT: usize = 1 << 20;

/// One complete event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when the event had one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The framer refused the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseError {
    /// One event grew past the limit without ending.
    TooLarge { limit: usize },
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SseError::TooLarge { limit } => {
                write!(f, "an upstream stream event exceeded {limit} bytes")
            }
        }
    }
}

/// Splits a byte stream into events, whatever its chunking.
#[derive(Debug)]
pub struct SseDecoder {
    /// Bytes of a line not yet ended.
    line: Vec<u8>,
    /// The event being assembled.
    event: Option<String>,
    data: String,
    has_data: bool,
    /// The last chunk ended in `\r`: a `\n` opening the next one belongs to it.
    after_cr: bool,
    limit: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// A framer with the default [`MAX_EVENT`] limit.
    pub fn new() -> Self {
        Self::with_limit(MAX_EVENT)
    }

    /// A framer that refuses events larger than `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        SseDecoder {
            line: Vec::new(),
            event: None,
            data: String::new(),
            has_data: false,
            after_cr: false,
            limit,
        }
    }

    /// Takes the next chunk and appends every event it completes to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) {
            let (head, tail) = chunk.split_at(end);
            if tail == b"\r" {
                self.after_cr = true;
            }
            chunk = match tail {
                [b'\r', b'\n', rest @ ..] | [_, rest @ ..] => rest,
                [] => tail,
            };
            if self.line.is_empty() {
                self.line_ended(head, out);
            } else {
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                self.line_ended(&line, out);
                self.line = line;
                self.line.clear();
            }
            self.check()?;
        }
        self.line.extend_from_slice(chunk);
        self.check()
    }

    /// Ends the stream: a last line or event without its terminator is
    /// delivered as if it had one.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_ended(&line, out);
        }
        self.line_ended(b"", out);
    }

    fn check(&self) -> Result<(), SseError> {
        if self.line.len() + self.data.len() > self.limit {
            return Err(SseError::TooLarge { limit: self.limit });
        }
        Ok(())
    }

    fn line_ended(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.event = None;
            self.has_data = false;
            return;
        }
        if line.first() == Some(&b':') {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let (field, value) = line.split_at(colon);
                let value = value.strip_prefix(b":").unwrap_or(value);
                (field, value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
    }
}

/// Appends one event: an `event:` line when named, then one `data:` line per
/// line of `data`, then the blank line.
pub fn write_event(out: &mut Vec<u8>, event: Option<&str>, data: &str) {
    if let Some(name) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.trim_end_matches('\r').as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Appends a comment line (a keepalive every SSE client ignores).
pub fn write_comment(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b": ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_all(parts: &[&[u8]]) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        for part in parts {
            decoder.feed(part, &mut out).unwrap();
        }
        decoder.finish(&mut out);
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    const MIXED: &[u8] = b": comment\nevent: a\ndata: one\ndata:two\n\n\
        data: {\"x\":1}\r\n\r\nevent: b\rdata: three\r\rretry: 5\nid: 7\n\nevent: lonely\n\n";

    #[test]
    fn every_line_ending_and_field_at_every_split() {
        let want = vec![ev(Some("a"), "one\ntwo"), ev(None, "{\"x\":1}"), ev(Some("b"), "three")];
        for cut in 0..=MIXED.len() {
            let (a, b) = MIXED.split_at(cut);
            assert_eq!(frame_all(&[a, b]), want, "split at {cut}");
        }
        let bytes: Vec<&[u8]> = MIXED.chunks(1).collect();
        assert_eq!(frame_all(&bytes), want);
    }

    #[test]
    fn a_last_event_without_its_blank_line_is_delivered() {
        assert_eq!(frame_all(&[b"data: [DONE]"]), vec![ev(None, "[DONE]")]);
        assert_eq!(frame_all(&[b"data: [DONE]\n"]), vec![ev(None, "[DONE]")]);
    }

    #[test]
    fn an_oversized_event_is_refused_with_its_limit() {
        let mut decoder = SseDecoder::with_limit(16);
        let mut out = Vec::new();
        assert!(decoder.feed(b"data: 0123456789\n", &mut out).is_ok());
        let err = decoder.feed(b"data: 0123456789\n", &mut out).unwrap_err();
        assert_eq!(err, SseError::TooLarge { limit: 16 });
        assert!(err.to_string().contains("16 bytes"));
        let mut decoder = SseDecoder::with_limit(16);
        assert!(
            decoder.feed(&[b'a'; 17], &mut out).is_err(),
            "an unended line counts too"
        );
    }

    #[test]
    fn written_events_frame_back_to_themselves() {
        let mut out = Vec::new();
        write_event(&mut out, Some("ping"), "{\"type\":\"ping\"}");
        write_event(&mut out, None, "line1\nline2");
        write_comment(&mut out, "keepalive");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "event: ping\ndata: {\"type\":\"ping\"}\n\ndata: line1\ndata: line2\n\n: keepalive\n\n"
        );
        assert_eq!(
            frame_all(&[&out]),
            vec![ev(Some("ping"), "{\"type\":\"ping\"}"), ev(None, "line1\nline2")]
        );
    }
}
