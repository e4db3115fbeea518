//! Upstream connections that know whether they were reused: a request lost
//! to a server's close of a kept-alive connection can then be told from one
//! the provider may have received.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{MapOk, TryFutureExt};
use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

/// Whether a connection has started a second request, shared with
/// hyper-util, which copies it into each error's connection info.
#[derive(Debug, Clone, Default)]
pub struct Reuse(Arc<AtomicBool>);

impl Reuse {
    pub fn reused(&self) -> bool {
        self.0.load(Relaxed)
    }
}

/// The HTTPS-or-HTTP connector whose connections watch their own reuse.
#[derive(Clone)]
pub struct Counting(pub HttpsConnector<HttpConnector>);

type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;
type Inner = HttpsConnector<HttpConnector>;

/// A connection (above TLS, so it sees HTTP bytes). HTTP/1.1 alternates:
/// a request is written, its response read, then the next request written.
/// A write that follows a read which followed an earlier write starts a
/// request on a reused connection. Marked here, at the socket, because the
/// pool may hand the connection to the next request before the previous
/// request's caller has even seen its response.
pub struct Counted {
    io: Stream,
    written: bool,
    read_since_write: bool,
    reuse: Reuse,
}

impl Service<Uri> for Counting {
    type Response = Counted;
    type Error = <Inner as Service<Uri>>::Error;
    type Future = MapOk<<Inner as Service<Uri>>::Future, fn(Stream) -> Counted>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let wrap: fn(Stream) -> Counted = |io| Counted {
            io,
            written: false,
            read_since_write: false,
            reuse: Reuse::default(),
        };
        self.0.call(dst).map_ok(wrap)
    }
}

impl Counted {
    fn wrote(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if self.written && self.read_since_write {
            self.reuse.0.store(true, Relaxed);
        }
        self.written = true;
        self.read_since_write = false;
    }
}

impl Connection for Counted {
    fn connected(&self) -> Connected {
        self.io.connected().extra(self.reuse.clone())
    }
}

impl Read for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.read_since_write = true;
        }
        polled
    }
}

impl Write for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            this.wrote(n);
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            this.wrote(n);
        }
        polled
    }
}
