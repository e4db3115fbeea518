//! The listener: accepts connections (HTTP/1.1 and h2c), hands each request
//! to the gateway, and on shutdown stops accepting and drains in-flight
//! requests and streams for a bounded time.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::gateway::{Gateway, Surface};

mod connections;
pub mod cores;

pub use connections::{default_max, fd_soft_limit, Connections};

/// What a client connection may hold, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a new connection may take to send its first request head
    /// (counted from the accept: it covers the HTTP version sniff and a
    /// head sent byte by byte).
    pub header_timeout: Duration,
    /// How long a connection may stay open without a request in flight
    /// after its last response (HTTP/1.1 keep-alive, an idle h2 connection).
    pub idle_timeout: Duration,
    /// Client connections open at once. At the limit the connection idle
    /// longest is closed for a new one; when all are busy, accepting waits.
    pub max_connections: usize,
}

impl Default for Limits {
    /// nginx's `client_header_timeout` (60 s) and `keepalive_timeout` (75 s),
    /// and a connection limit from the file descriptor limit.
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(75),
            max_connections: default_max(fd_soft_limit()),
        }
    }
}

/// Serves until `shutdown` completes, then drains for at most `drain`, with
/// the default [`Limits`]. Returns whether every connection finished within
/// the drain time.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> bool {
    serve_with(listener, gateway, shutdown, drain, Limits::default()).await
}

/// [`serve`] with these limits.
pub async fn serve_with(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    limits: Limits,
) -> bool {
    let connections = Connections::new(limits.max_connections);
    let graceful = accept_until(listener, &gateway, &connections, shutdown, limits).await;
    tracing::info!(
        drain_seconds = drain.as_secs_f64(),
        "stopped accepting; draining in-flight requests"
    );
    drained(graceful, drain).await
}

/// Accepts and serves connections until `shutdown` completes, then closes
/// the listener and marks the gateway as draining. The connections still
/// open are in the returned watcher.
async fn accept_until(
    listener: TcpListener,
    gateway: &Arc<Gateway>,
    connections: &Arc<Connections>,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
) -> GracefulShutdown {
    let builder = builder(&limits);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = accept(&listener, connections) => {
                let Some((stream, peer, slot)) = accepted else { continue };
                let conn = Conn { peer, slot, connections: connections.clone(), limits };
                serve_connection(&builder, Some(&graceful), stream, conn, gateway.clone(), Surface::Api);
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    gateway.start_draining();
    graceful
}

/// Waits at most `drain` for the watched connections to finish; whether
/// they all did.
async fn drained(graceful: GracefulShutdown, drain: Duration) -> bool {
    tokio::select! {
        _ = graceful.shutdown() => true,
        _ = tokio::time::sleep(drain) => {
            tracing::warn!("drain time over; closing the remaining connections");
            false
        }
    }
}

/// Serves health (and metrics) on the admin listener until the process
/// ends. Nothing here needs draining: probes and scrapes are short. Its
/// connections count against a limit of their own.
pub async fn serve_admin(listener: TcpListener, gateway: Arc<Gateway>, limits: Limits) {
    let builder = builder(&limits);
    let connections = Connections::new(limits.max_connections);
    loop {
        if let Some((stream, peer, slot)) = accept(&listener, &connections).await {
            let conn = Conn {
                peer,
                slot,
                connections: connections.clone(),
                limits,
            };
            serve_connection(&builder, None, stream, conn, gateway.clone(), Surface::Admin);
        }
    }
}

fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper starts this timer as soon as it waits for a head, kept-alive
    // connections included; the connection's own watch (`Connection::expired`)
    // applies the header and idle timeouts, so this one only backs it up.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout.max(limits.idle_timeout));
    // Pings find a vanished h2 peer even while a long stream is quiet.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.idle_timeout)
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// Waits for a connection slot, then for a connection.
async fn accept(
    listener: &TcpListener,
    connections: &Connections,
) -> Option<(tokio::net::TcpStream, SocketAddr, tokio::sync::OwnedSemaphorePermit)> {
    let slot = connections.slot().await;
    match listener.accept().await {
        Ok((stream, peer)) => {
            let _ = stream.set_nodelay(true);
            Some((stream, peer, slot))
        }
        Err(error) => {
            // Out of file descriptors and the like: back off, keep serving.
            tracing::warn!(%error, "accept failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// An accepted connection and what bounds it.
struct Conn {
    peer: SocketAddr,
    slot: tokio::sync::OwnedSemaphorePermit,
    connections: Arc<Connections>,
    limits: Limits,
}

fn serve_connection(
    builder: &auto::Builder<TokioExecutor>,
    graceful: Option<&GracefulShutdown>,
    stream: tokio::net::TcpStream,
    conn: Conn,
    gateway: Arc<Gateway>,
    surface: Surface,
) {
    let tracked = conn.connections.open();
    let state = tracked.clone();
    let service = service_fn(move |request| {
        let gateway = gateway.clone();
        let in_flight = state.request();
        async move {
            let response = gateway.handle(request, surface).await;
            Ok::<_, Infallible>(response.map(|body| connections::Tracked::new(body, in_flight)))
        }
    });
    let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
    type Ended = Result<(), Box<dyn std::error::Error + Send + Sync>>;
    let connection: std::pin::Pin<Box<dyn Future<Output = Ended> + Send>> = match graceful {
        Some(graceful) => Box::pin(graceful.watch(connection)),
        None => Box::pin(connection),
    };
    let Conn {
        peer,
        slot,
        connections,
        limits,
    } = conn;
    tokio::spawn(async move {
        tokio::select! {
            result = connection => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
            }
            // Dropping the connection closes it: no request was in flight.
            _ = tracked.expired(limits.header_timeout, limits.idle_timeout) => {
                tracing::debug!(%peer, "connection closed: no request in time, or room needed for a new one");
            }
        }
        connections.close(&tracked);
        drop(slot);
    });
}
