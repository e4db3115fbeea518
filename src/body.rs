//! Response bodies: one boxed type for everything the gateway answers with,
//! and the wrapper that finishes the request's record when the body ends.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};

use crate::record::{Outcome, Record};

/// Any error a response body can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response tollgate sends.
pub type GatewayBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body of known bytes.
pub fn full(bytes: Bytes) -> GatewayBody {
    Full::new(bytes).map_err(|never| match never {}).boxed_unsync()
}

/// A body of events sent one frame each (SSE from a mock).
pub fn frames(events: Vec<Bytes>) -> GatewayBody {
    let stream = futures_util::stream::iter(events.into_iter().map(|b| Ok::<_, BoxError>(Frame::data(b))));
    StreamBody::new(stream).boxed_unsync()
}

pin_project_lite::pin_project! {
    /// Relays frames untouched and finishes `record` exactly once: at the end
    /// of the body, on its error, or when it is dropped (client gone).
    pub struct Observed<B> {
        #[pin]
        inner: B,
        record: Option<Record>,
    }
}

impl<B> Observed<B> {
    pub fn new(inner: B, record: Record) -> Self {
        Observed {
            inner,
            record: Some(record),
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
        polled.map(|o| o.map(|r| r.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
