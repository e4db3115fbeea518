//! Upstream TCP connections that remember whether they already carried a
//! response, so a request lost to a server's close on a reused connection
//! can be told from one the provider may have received.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{MapOk, TryFutureExt};
use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

/// Responses a connection has carried, shared by every request on it
/// (hyper-util copies it into each response's extensions and each error's
/// connection info).
#[derive(Debug, Clone, Default)]
pub struct Uses(Arc<AtomicU32>);

impl Uses {
    /// Counts a response head received on the connection.
    pub fn count(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    /// Whether the connection had carried a response before.
    pub fn reused(&self) -> bool {
        self.0.load(Relaxed) > 0
    }
}

/// `HttpConnector` whose connections carry a `Uses` counter.
#[derive(Clone)]
pub struct Counting(pub HttpConnector);

/// A TCP connection and its counter.
pub struct Counted {
    io: TokioIo<TcpStream>,
    uses: Uses,
}

type Connecting = <HttpConnector as Service<Uri>>::Future;
type ConnectError = <HttpConnector as Service<Uri>>::Error;

impl Service<Uri> for Counting {
    type Response = Counted;
    type Error = ConnectError;
    type Future = MapOk<Connecting, fn(TokioIo<TcpStream>) -> Counted>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let wrap: fn(TokioIo<TcpStream>) -> Counted = |io| Counted {
            io,
            uses: Uses::default(),
        };
        self.0.call(dst).map_ok(wrap)
    }
}

impl Connection for Counted {
    fn connected(&self) -> Connected {
        self.io.connected().extra(self.uses.clone())
    }
}

impl Read for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
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
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}
