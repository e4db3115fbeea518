//! Response bodies: one boxed type for everything the gateway answers with,
//! and the wrapper that finishes the request's record when the body ends.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};

use crate::record::{Outcome, Record};
use crate::stream::{Scanned, UsageScan};
use crate::translate::UsageCell;

/// Any error a response body can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response tollgate sends.
pub type GatewayBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body of known bytes.
pub fn full(bytes: Bytes) -> GatewayBody {
    Full::new(bytes).map_err(|never| match never {}).boxed_unsync()
}

/// A JSON response the gateway makes itself.
pub fn json(status: http::StatusCode, bytes: Bytes) -> http::Response<GatewayBody> {
    let mut response = http::Response::new(full(bytes));
    *response.status_mut() = status;
    let content_type = http::HeaderValue::from_static("application/json");
    response.headers_mut().insert(http::header::CONTENT_TYPE, content_type);
    response
}

/// A body of events sent one frame each (SSE from a mock).
pub fn frames(events: Vec<Bytes>) -> GatewayBody {
    let stream = futures_util::stream::iter(events.into_iter().map(|b| Ok::<_, BoxError>(Frame::data(b))));
    StreamBody::new(stream).boxed_unsync()
}

pin_project_lite::pin_project! {
    /// Relays frames (through a usage scan, when the response has one) and
    /// finishes `record` exactly once, with the usage read: at the end of the
    /// body, on its error, or when it is dropped (client gone).
    pub struct Observed<B> {
        #[pin]
        inner: Scanned<B>,
        record: Option<Record>,
        // A translated answer's usage, reported by its decoder.
        translated: Option<Arc<UsageCell>>,
    }
}

impl<B> Observed<B> {
    pub fn new(inner: B, record: Record, scan: Option<UsageScan>, translated: Option<Arc<UsageCell>>) -> Self {
        Observed {
            inner: Scanned::new(inner, scan),
            record: Some(record),
            translated,
        }
    }
}

impl<B> Body for Observed<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let mut inner = this.inner;
        let polled = inner.as_mut().poll_frame(cx);
        if let (Poll::Ready(_), Some(record)) = (&polled, this.record.as_mut()) {
            let translated = this.translated.as_ref().and_then(|cell| cell.get());
            record.usage = inner.usage().or(translated).or(record.usage);
        }
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(record), Some(data)) = (this.record.as_mut(), frame.data_ref()) {
                    record.first_byte.get_or_insert_with(Instant::now);
                    record.bytes += data.len() as u64;
                }
                // A sized body may end without a final `None` poll.
                if inner.is_end_stream() {
                    if let Some(mut record) = this.record.take() {
                        record.outcome = Outcome::Completed;
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(mut record) = this.record.take() {
                    record.outcome = Outcome::UpstreamBroken;
                }
            }
            Poll::Ready(None) => {
                if let Some(mut record) = this.record.take() {
                    record.outcome = Outcome::Completed;
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The body ended because a time limit passed (its error, seen in logs).
#[derive(Debug)]
pub struct TimedOut(pub &'static str);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "upstream body {}", self.0)
    }
}

impl std::error::Error for TimedOut {}

pin_project_lite::pin_project! {
    /// An upstream response body on its way to the client: replays a first
    /// frame already read (to know the stream started), ends the body as
    /// broken when the provider goes silent for `idle` or the whole request
    /// passes its deadline, and keeps the deployment counted as busy until
    /// the body is done.
    pub struct Upstream<B> {
        #[pin]
        inner: B,
        first: Option<Frame<Bytes>>,
        idle: std::time::Duration,
        #[pin]
        idle_timer: tokio::time::Sleep,
        #[pin]
        deadline: tokio::time::Sleep,
        busy: Option<crate::router::Busy>,
    }
}

impl<B> Upstream<B> {
    pub fn new(
        inner: B,
        first: Option<Frame<Bytes>>,
        idle: std::time::Duration,
        deadline: tokio::time::Instant,
        busy: crate::router::Busy,
    ) -> Self {
        Upstream {
            inner,
            first,
            idle,
            idle_timer: tokio::time::sleep(idle),
            deadline: tokio::time::sleep_until(deadline),
            busy: Some(busy),
        }
    }
}

impl<B> Body for Upstream<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if let Some(frame) = this.first.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + *this.idle;
                this.idle_timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => {
                this.busy.take();
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(TimedOut("passed the request's timeout")))));
                }
                if this.idle_timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(TimedOut(
                        "went silent longer than stream_idle_timeout",
                    )))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let hint = self.inner.size_hint();
        match self.first.as_ref().and_then(|f| f.data_ref()) {
            Some(first) => plus(&hint, first.len() as u64),
            None => hint,
        }
    }
}

/// `hint` with `extra` bytes in front: still exact when `hint` was (a
/// provider's `Content-Length` after the held first frame). Upper first, so
/// the lower bound never passes it; saturating, so neither overflows.
fn plus(hint: &SizeHint, extra: u64) -> SizeHint {
    if let Some(exact) = hint.exact() {
        return SizeHint::with_exact(exact.saturating_add(extra));
    }
    let mut sum = SizeHint::new();
    if let Some(upper) = hint.upper() {
        sum.set_upper(upper.saturating_add(extra));
    }
    sum.set_lower(hint.lower().saturating_add(extra));
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_frame_keeps_an_exact_hint_exact() {
        assert_eq!(plus(&SizeHint::with_exact(10), 5).exact(), Some(15));
        assert_eq!(plus(&SizeHint::with_exact(0), 5).exact(), Some(5));
        assert_eq!(plus(&SizeHint::with_exact(u64::MAX), 5).exact(), Some(u64::MAX));
    }

    #[test]
    fn a_held_frame_moves_both_bounds() {
        let mut open = SizeHint::new();
        open.set_lower(3);
        let sum = plus(&open, 4);
        assert_eq!((sum.lower(), sum.upper()), (7, None));
        open.set_upper(9);
        let sum = plus(&open, 4);
        assert_eq!((sum.lower(), sum.upper()), (7, Some(13)));
    }
}
