//! Thread-per-core serving: one single-threaded runtime per core, each on a
//! thread of its own with its own listening socket on the shared port, so
//! that a connection and the requests on it never leave the core that
//! accepted it. The config, cooldowns, budgets and connection limit stay
//! one truth for the process: they live in the shared [`Gateway`].

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use super::{accept_until, drained, Connections, Limits};
use crate::gateway::Gateway;

/// The kernel's queue of connections not yet accepted, per socket (tokio's
/// own `bind` uses the same).
const BACKLOG: i32 = 1024;

/// The listening sockets of every core, bound before serving starts so that
/// a port in use stops the start with a clear error.
pub struct Listeners {
    /// One per core.
    sockets: Vec<std::net::TcpListener>,
    addr: SocketAddr,
    /// Whether the cores share one socket (no `SO_REUSEPORT`).
    shared: bool,
}

impl Listeners {
    /// Binds `count` sockets on `host:port`. With `SO_REUSEPORT` each has
    /// its own queue and the kernel spreads new connections over them by
    /// their address hash. Where the platform refuses it, one socket is
    /// bound and every core accepts from it (a new connection wakes every
    /// core; the first to ask gets it). Port 0 picks one free port for all.
    pub fn bind(host: &str, port: u16, count: usize) -> io::Result<Listeners> {
        let count = count.max(1);
        let mut last = None;
        for addr in (host, port).to_socket_addrs()? {
            match Self::bind_addr(addr, count) {
                Ok(listeners) => return Ok(listeners),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the host names no address")))
    }

    fn bind_addr(addr: SocketAddr, count: usize) -> io::Result<Listeners> {
        let first = match socket(addr, count > 1) {
            Ok(first) => first,
            // No SO_REUSEPORT here: one socket that every core accepts from.
            Err(error) if count > 1 && error.kind() != io::ErrorKind::AddrInUse => {
                tracing::debug!(%error, "SO_REUSEPORT refused; the cores share one listening socket");
                return Self::shared(socket(addr, false)?, count);
            }
            Err(error) => return Err(error),
        };
        let addr = first.local_addr()?;
        let mut sockets = vec![first];
        for _ in 1..count {
            sockets.push(socket(addr, true)?);
        }
        Ok(Listeners {
            sockets,
            addr,
            shared: false,
        })
    }

    fn shared(socket: std::net::TcpListener, count: usize) -> io::Result<Listeners> {
        let addr = socket.local_addr()?;
        let mut sockets = Vec::with_capacity(count);
        for _ in 1..count {
            sockets.push(socket.try_clone()?);
        }
        sockets.push(socket);
        Ok(Listeners {
            sockets,
            addr,
            shared: true,
        })
    }

    /// The address every socket listens on (with the port picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many cores will accept.
    pub fn cores(&self) -> usize {
        self.sockets.len()
    }

    /// Whether the cores share one socket instead of one each.
    pub fn shared_socket(&self) -> bool {
        self.shared
    }

    /// The sockets, one per core, for a server of one's own (the bench's
    /// bare proxy serves on them the way tollgate does).
    pub fn into_sockets(self) -> Vec<std::net::TcpListener> {
        self.sockets
    }

    /// The first socket as a listener of the current runtime, for serving
    /// on one multi-threaded runtime; the others are closed.
    pub fn into_single(self) -> io::Result<TcpListener> {
        let first = self
            .sockets
            .into_iter()
            .next()
            .ok_or_else(|| io::Error::other("no listening socket"))?;
        TcpListener::from_std(first)
    }
}

/// A non-blocking listening socket on `addr`, sharing the port when `reuse_port`.
fn socket(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As tokio's `bind`: a restart may bind while old connections linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Serves each listener on a single-threaded runtime of its own thread
/// until `shutdown` completes. Then every core closes its listener at once
/// and drains its connections for at most `drain`. Returns whether every
/// connection of every core finished in time, or an error when a core's
/// runtime or thread could not start (before anything was served).
pub async fn serve(
    listeners: Listeners,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    limits: Limits,
) -> io::Result<bool> {
    // One limit for the process: a connection on any core takes a slot.
    let connections = Connections::new(limits.max_connections);
    let (stop, stopped) = watch::channel(false);
    let mut cores = Vec::with_capacity(listeners.sockets.len());
    for (index, socket) in listeners.sockets.into_iter().enumerate() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (done, finished) = oneshot::channel();
        let core = Core {
            gateway: gateway.clone(),
            connections: connections.clone(),
            stopped: stopped.clone(),
            drain,
            limits,
        };
        let thread = std::thread::Builder::new()
            .name(format!("tollgate-core-{index}"))
            .spawn(move || {
                let result = runtime.block_on(core.run(socket));
                let _ = done.send(result);
                // Dropping the runtime ends what the drain left running.
            })?;
        cores.push((thread, finished));
    }
    shutdown.await;
    let _ = stop.send(true);
    tracing::info!(
        drain_seconds = drain.as_secs_f64(),
        "stopped accepting; draining in-flight requests"
    );
    let mut all = true;
    let mut threads = Vec::with_capacity(cores.len());
    for (thread, finished) in cores {
        // A core whose thread ended without a result (it panicked) did not drain.
        all &= finished.await.unwrap_or(false);
        threads.push(thread);
    }
    let _ = tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    })
    .await;
    Ok(all)
}

/// What one core serves with.
struct Core {
    gateway: Arc<Gateway>,
    connections: Arc<Connections>,
    stopped: watch::Receiver<bool>,
    drain: Duration,
    limits: Limits,
}

impl Core {
    async fn run(self, socket: std::net::TcpListener) -> bool {
        let listener = match TcpListener::from_std(socket) {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(%error, "a core cannot listen; the others serve");
                return true;
            }
        };
        let mut stopped = self.stopped;
        // A dropped sender (the process is ending) stops as well.
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let graceful = accept_until(listener, &self.gateway, &self.connections, shutdown, self.limits).await;
        drained(graceful, self.drain).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_binds_every_core_to_one_picked_port() {
        let listeners = Listeners::bind("127.0.0.1", 0, 3).unwrap();
        assert_eq!(listeners.cores(), 3);
        assert!(!listeners.shared_socket(), "Linux has SO_REUSEPORT");
        let port = listeners.local_addr().port();
        assert_ne!(port, 0);
        for socket in &listeners.sockets {
            assert_eq!(socket.local_addr().unwrap().port(), port);
        }
    }

    #[test]
    fn a_port_in_use_by_a_plain_listener_is_refused() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let error = Listeners::bind("127.0.0.1", port, 2).err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn the_kernel_spreads_new_connections_over_the_cores() {
        let listeners = Listeners::bind("127.0.0.1", 0, 4).unwrap();
        let addr = listeners.local_addr();
        let _clients: Vec<_> = (0..64).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
        let mut per_core = [0usize; 4];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while per_core.iter().sum::<usize>() < 64 && std::time::Instant::now() < deadline {
            for (socket, count) in listeners.sockets.iter().zip(per_core.iter_mut()) {
                while socket.accept().is_ok() {
                    *count += 1;
                }
            }
        }
        assert_eq!(per_core.iter().sum::<usize>(), 64, "{per_core:?}");
        // By address hash: 64 connections on one or two of four cores would be
        // a broken spread (about 1e-15 by chance).
        assert!(per_core.iter().filter(|n| **n > 0).count() >= 3, "{per_core:?}");
    }

    #[test]
    fn shared_sockets_accept_from_one_queue() {
        let socket = socket("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let listeners = Listeners::shared(socket, 2).unwrap();
        assert!(listeners.shared_socket());
        let addr = listeners.local_addr();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        // Either socket takes the one waiting connection; it is accepted once.
        let mut accepted = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while accepted == 0 && std::time::Instant::now() < deadline {
            for socket in &listeners.sockets {
                if socket.accept().is_ok() {
                    accepted += 1;
                }
            }
        }
        assert_eq!(accepted, 1);
    }
}
