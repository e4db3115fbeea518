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

/// How long a client may take to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves until `shutdown` completes, then drains for at most `drain`.
/// Returns whether every connection finished within the drain time.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> bool {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(error) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                serve_connection(&builder, Some(&graceful), stream, peer, gateway.clone(), Surface::Api);
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    gateway.start_draining();
    tracing::info!(
        drain_seconds = drain.as_secs_f64(),
        "stopped accepting; draining in-flight requests"
    );
    tokio::select! {
        _ = graceful.shutdown() => true,
        _ = tokio::time::sleep(drain) => {
            tracing::warn!("drain time over; closing the remaining connections");
            false
        }
    }
}

/// Serves health (and metrics) on the admin listener until the process
/// ends. Nothing here needs draining: probes and scrapes are short.
pub async fn serve_admin(listener: TcpListener, gateway: Arc<Gateway>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => serve_connection(&builder, None, stream, peer, gateway.clone(), Surface::Admin),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn serve_connection(
    builder: &auto::Builder<TokioExecutor>,
    graceful: Option<&GracefulShutdown>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    gateway: Arc<Gateway>,
    surface: Surface,
) {
    let service = service_fn(move |request| {
        let gateway = gateway.clone();
        async move { Ok::<_, Infallible>(gateway.handle(request, surface).await) }
    });
    let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
    let log = move |result: Result<(), Box<dyn std::error::Error + Send + Sync>>| {
        if let Err(error) = result {
            tracing::debug!(%peer, %error, "connection ended with an error");
        }
    };
    match graceful {
        Some(graceful) => {
            let connection = graceful.watch(connection);
            tokio::spawn(async move { log(connection.await) });
        }
        None => {
            tokio::spawn(async move { log(connection.await) });
        }
    }
}
