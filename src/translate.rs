//! The request path's one door into `protocol`: the request body translated
//! for a deployment's format, its answer translated back as it streams (with
//! keepalives while the upstream is silent), and the usage read on the way.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::body::BoxError;
use crate::error::GatewayError;
use crate::protocol;
use crate::protocol::events::{ErrorKind, StreamError};
use crate::spend::Usage;

/// Silence from the upstream after which the client gets a keepalive event
/// (Claude Code shows a stall after 20 s of no bytes and gives up at 180 s).
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// Response header listing what a translated request asked for that its
/// provider cannot do and that was left out (built-in tools, `store`, ...).
pub const WARNING_HEADER: &str = "x-tollgate-warning";

/// The notes of a translation as one header value: printable ASCII, cut at
/// 1 KiB (they name request fields, never values).
pub fn warning(notes: &[String]) -> Option<http::HeaderValue> {
    if notes.is_empty() {
        return None;
    }
    let mut text: String = notes
        .join("; ")
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect();
    text.truncate(1024);
    http::HeaderValue::from_str(&text).ok()
}

/// The largest non-streamed upstream answer read whole to translate it.
pub const MAX_ANSWER: usize = 16 << 20;

/// The usage a translated answer reported, shared between the body that
/// decodes it and the record that counts it.
#[derive(Debug, Default)]
pub struct UsageCell(Mutex<Option<Usage>>);

impl UsageCell {
    pub fn set(&self, usage: Usage) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(usage);
    }

    pub fn get(&self) -> Option<Usage> {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The hub's token counts in the spend module's terms (the same meanings).
pub fn usage_of(usage: &protocol::events::Usage) -> Option<Usage> {
    let any = usage.input | usage.output | usage.cache_read | usage.cache_write;
    (any > 0).then_some(Usage {
        input: usage.input,
        output: usage.output,
        cached_input: usage.cache_read,
        cache_write: usage.cache_write,
        reasoning: usage.reasoning,
    })
}

/// A client request that cannot be translated, as the gateway's error.
pub fn rejected(error: protocol::ProtocolError) -> GatewayError {
    match error {
        protocol::ProtocolError::Unsupported { client, upstream } => GatewayError::TranslationUnsupported {
            client: client.name(),
            upstream: upstream.name(),
        },
        other => GatewayError::InvalidRequest {
            field: other.field().map(str::to_string),
            message: other.to_string(),
        },
    }
}

/// An honest estimate of a request's input tokens, for token counting
/// without an Anthropic upstream: one token per three bytes of the JSON body.
/// It errs high on purpose (JSON's quotes and keys count too, and real
/// tokenizers average about four bytes of English per token): a client that
/// compacts its context by this count compacts early, never late.
pub fn estimate_tokens(body: &[u8]) -> u64 {
    (body.len() as u64).div_ceil(3)
}

/// A whole answer body, or `None` when it breaks off or passes `limit`.
pub async fn read_whole(mut body: crate::body::GatewayBody, limit: usize) -> Option<Bytes> {
    use http_body_util::BodyExt;
    let mut whole = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.ok()?.into_data() {
            if whole.len() + data.len() > limit {
                return None;
            }
            whole.extend_from_slice(&data);
        }
    }
    Some(whole.freeze())
}

pin_project_lite::pin_project! {
    /// An upstream stream on its way to a client of another format: each
    /// upstream chunk becomes the client's events as it arrives (nothing is
    /// held beyond an event cut by a chunk boundary), a keepalive goes out
    /// after `KEEPALIVE` of upstream silence, and a broken upstream ends the
    /// client's stream with its format's error event, never a clean end.
    pub struct Translated<B> {
        #[pin]
        inner: B,
        translator: protocol::Translator,
        #[pin]
        keepalive: tokio::time::Sleep,
        usage: Arc<UsageCell>,
        // The client's opening event, sent before the first upstream chunk.
        opening: Option<Bytes>,
        done: bool,
    }
}

impl<B> Translated<B> {
    pub fn new(inner: B, mut translator: protocol::Translator, usage: Arc<UsageCell>) -> Self {
        let opening = Some(translator.start()).filter(|b| !b.is_empty());
        Translated {
            inner,
            translator,
            keepalive: tokio::time::sleep(KEEPALIVE),
            usage,
            opening,
            done: false,
        }
    }
}

impl<B> Body for Translated<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if let Some(opening) = this.opening.take() {
            return Poll::Ready(Some(Ok(Frame::data(opening))));
        }
        if *this.done {
            return Poll::Ready(None);
        }
        loop {
            let out = match this.inner.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // upstream trailers mean nothing to another format
                    };
                    this.keepalive.as_mut().reset(tokio::time::Instant::now() + KEEPALIVE);
                    this.translator.feed(&data)
                }
                Poll::Ready(Some(Err(error))) => {
                    *this.done = true;
                    let error: BoxError = error.into();
                    let kind = if error.is::<crate::body::TimedOut>() {
                        ErrorKind::Timeout
                    } else {
                        ErrorKind::Api
                    };
                    let message = format!("The provider's stream broke off: {error}.");
                    this.translator.fail(StreamError { kind, message })
                }
                Poll::Ready(None) => {
                    *this.done = true;
                    this.translator.finish()
                }
                Poll::Pending => {
                    if this.keepalive.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.keepalive.as_mut().reset(tokio::time::Instant::now() + KEEPALIVE);
                    match this.translator.keepalive() {
                        Some(ping) => ping,
                        None => continue,
                    }
                }
            };
            if let Some(usage) = usage_of(&this.translator.usage()) {
                this.usage.set(usage);
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(out))));
            }
            if *this.done {
                return Poll::Ready(None);
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        // Translation changes the length; nothing is known in advance.
        SizeHint::default()
    }
}
