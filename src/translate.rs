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
        // When the upstream last sent bytes (or a keepalive went out): the
        // timer is moved only when it fires, not on every chunk.
        last: tokio::time::Instant,
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
            last: tokio::time::Instant::now(),
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
                    *this.last = tokio::time::Instant::now();
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
                    let now = tokio::time::Instant::now();
                    let due = *this.last + KEEPALIVE;
                    if now < due {
                        // Bytes came since the timer was set: wait out the rest.
                        this.keepalive.as_mut().reset(due);
                        continue;
                    }
                    *this.last = now;
                    this.keepalive.as_mut().reset(now + KEEPALIVE);
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::{BodyExt, StreamBody};
    use tokio::sync::mpsc;
    use tokio::time::Instant;

    use super::*;
    use crate::protocol::{Context, Format};

    type Chunk = Result<Frame<Bytes>, Infallible>;

    /// An upstream body the test feeds by hand; it stays pending in between.
    fn upstream() -> (
        mpsc::UnboundedSender<Chunk>,
        impl Body<Data = Bytes, Error = Infallible>,
    ) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Chunk>();
        (
            tx,
            StreamBody::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))),
        )
    }

    fn translated<B>(client: Format, inner: B) -> Pin<Box<Translated<B>>> {
        let context = Context {
            client,
            upstream: Format::Chat,
            model: "gw-model".to_string(),
            include_usage: true,
            tool_names: Vec::new(),
            custom_tools: Vec::new(),
            input_estimate: 10,
        };
        let translator = protocol::Translator::new(&context).expect("chat answers translate to every format");
        Box::pin(Translated::new(inner, translator, Arc::new(UsageCell::default())))
    }

    /// The next frame's text and the (paused) time it took to come.
    async fn next<B>(body: &mut Pin<Box<Translated<B>>>) -> (String, Duration)
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let frame = body.frame().await.expect("a frame").expect("no error");
        let data = frame.into_data().expect("data");
        (String::from_utf8_lossy(&data).into_owned(), started.elapsed())
    }

    /// Names of the SSE events in `text`, in order.
    fn events(text: &str) -> Vec<&str> {
        text.lines().filter_map(|l| l.strip_prefix("event: ")).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn anthropic_clients_get_a_ping_after_each_15_s_of_upstream_silence() {
        let (_tx, inner) = upstream();
        let mut body = translated(Format::Anthropic, inner);
        let (opening, waited) = next(&mut body).await;
        assert_eq!(events(&opening), ["message_start"]);
        assert_eq!(
            waited,
            Duration::ZERO,
            "message_start goes out before the upstream's first byte"
        );
        for _ in 0..2 {
            let (ping, waited) = next(&mut body).await;
            assert_eq!(events(&ping), ["ping"], "{ping}");
            assert!(ping.contains(r#"data: {"type":"ping"}"#), "{ping}");
            assert_eq!(waited, KEEPALIVE, "one ping per 15 s of silence, not sooner");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn upstream_bytes_put_the_next_ping_off() {
        let (tx, inner) = upstream();
        let mut body = translated(Format::Anthropic, inner);
        next(&mut body).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let chunk =
            r#"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}"#;
        tx.send(Ok(Frame::data(Bytes::from(format!("{chunk}\n\n"))))).unwrap();
        let (text, _) = next(&mut body).await;
        assert!(text.contains("text_delta"), "{text}");
        // The chunk came 10 s in: the ping waits 15 s from there, not 5.
        let (ping, waited) = next(&mut body).await;
        assert_eq!(events(&ping), ["ping"]);
        assert_eq!(waited, KEEPALIVE);
        tx.send(Ok(Frame::data(Bytes::from_static(b"data: [DONE]\n\n"))))
            .unwrap();
        drop(tx);
        let (end, _) = next(&mut body).await;
        assert_eq!(events(&end).last(), Some(&"message_stop"), "{end}");
        assert!(body.frame().await.is_none(), "no ping after the end");
    }

    #[tokio::test(start_paused = true)]
    async fn responses_clients_get_in_progress_again_with_the_next_sequence_number() {
        let (_tx, inner) = upstream();
        let mut body = translated(Format::Responses, inner);
        let (opening, waited) = next(&mut body).await;
        assert_eq!(events(&opening), ["response.created", "response.in_progress"]);
        assert_eq!(waited, Duration::ZERO);
        for sequence in [2, 3] {
            let (keepalive, waited) = next(&mut body).await;
            assert_eq!(events(&keepalive), ["response.in_progress"], "{keepalive}");
            assert!(
                keepalive.contains(&format!("\"sequence_number\":{sequence}")),
                "sequence numbers stay dense: {keepalive}"
            );
            assert_eq!(waited, KEEPALIVE);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn chat_clients_get_an_sse_comment() {
        let (_tx, inner) = upstream();
        let mut body = translated(Format::Chat, inner);
        let (comment, waited) = next(&mut body).await;
        assert!(comment.starts_with(':'), "a comment chat parsers skip: {comment:?}");
        assert_eq!(waited, KEEPALIVE);
    }
}
