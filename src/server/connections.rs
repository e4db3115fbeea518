//! The open client connections: how many may be open, when one that sends
//! no request is closed, and which one gives way when the limit is reached.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::body::{BoxError, GatewayBody};

/// How long a new connection is safe from giving way to another (ms).
const GRACE_MS: u64 = 100;

/// Every open connection, and the slots for more.
pub struct Connections {
    slots: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    next_id: AtomicU64,
    /// When the process started: connection times are kept as milliseconds since.
    epoch: Instant,
}

/// One connection as the limits see it.
pub struct Connection {
    id: u64,
    /// Requests whose response body is not finished yet.
    active: AtomicUsize,
    /// Milliseconds since `epoch` when the connection last had no request
    /// (accepted, or its last response ended).
    idle_since: AtomicU64,
    /// Milliseconds since `epoch` when it was accepted.
    opened: u64,
    /// Whether a request ever started (a new connection gets the header
    /// timeout; a kept-alive one, the idle timeout).
    served: AtomicUsize,
    /// Closes the connection when notified (it gave way to a new one).
    evict: Notify,
    epoch: Instant,
}

impl Connections {
    pub fn new(max: usize) -> Arc<Connections> {
        Arc::new(Connections {
            slots: Arc::new(Semaphore::new(max.clamp(1, Semaphore::MAX_PERMITS))),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// A slot for a new connection. At the limit, the connection that has
    /// waited longest without a request in flight is closed to make room;
    /// when every connection is busy, this waits for one to end.
    pub async fn slot(&self) -> OwnedSemaphorePermit {
        loop {
            if let Ok(permit) = self.slots.clone().try_acquire_owned() {
                return permit;
            }
            if let Some(idlest) = self.idlest() {
                idlest.evict.notify_one();
            }
            // Woken by the evicted connection's end (or any other).
            tokio::select! {
                permit = self.slots.clone().acquire_owned() => {
                    if let Ok(permit) = permit {
                        return permit;
                    }
                }
                // An evicted connection mid-response finishes first: look again.
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    /// Registers a connection that holds `permit` until it is dropped.
    pub fn open(self: &Arc<Self>) -> Arc<Connection> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            id,
            active: AtomicUsize::new(0),
            idle_since: AtomicU64::new(millis_since(self.epoch)),
            served: AtomicUsize::new(0),
            opened: millis_since(self.epoch),
            evict: Notify::new(),
            epoch: self.epoch,
        });
        self.lock().insert(id, connection.clone());
        connection
    }

    pub fn close(&self, connection: &Connection) {
        self.lock().remove(&connection.id);
    }

    /// Open connections now.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// The connection idle longest, among those open for at least
    /// [`GRACE_MS`]: a connection just accepted gets a moment to send its
    /// request before it can be made to give way. (With a listening socket
    /// per core, the cores accept from their own queues, so a client's new
    /// connection may be accepted before older silent ones of another
    /// queue, and be the oldest idle one before its head is read.)
    fn idlest(&self) -> Option<Arc<Connection>> {
        let now = millis_since(self.epoch);
        self.lock()
            .values()
            .filter(|c| c.active.load(Ordering::Acquire) == 0)
            .filter(|c| now.saturating_sub(c.opened) >= GRACE_MS)
            .min_by_key(|c| c.idle_since.load(Ordering::Relaxed))
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Connection {
    /// A request started; the returned guard ends it when dropped.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.served.store(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Completes when the connection should be closed: it had no request
    /// for `header` (never served) or `idle` (kept alive) in a row, or it
    /// was evicted to make room.
    pub async fn expired(&self, header: Duration, idle: Duration) {
        loop {
            let limit = if self.served.load(Ordering::Relaxed) == 0 {
                header
            } else {
                idle
            };
            let wake = if self.active.load(Ordering::Acquire) > 0 {
                // Busy: a request or stream may take as long as its own timeouts allow.
                Instant::now() + limit
            } else {
                let since = self.idle_since.load(Ordering::Relaxed);
                let at = self.epoch + Duration::from_millis(since) + limit;
                if at <= Instant::now() {
                    return;
                }
                at
            };
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = self.evict.notified() => {
                    if self.active.load(Ordering::Acquire) == 0 {
                        return;
                    }
                }
            }
        }
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Counts a request as in flight until dropped (with its response body).
pub struct InFlight(Arc<Connection>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let connection = &self.0;
        connection
            .idle_since
            .store(millis_since(connection.epoch), Ordering::Relaxed);
        connection.active.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in flight.
    pub struct Tracked {
        #[pin]
        inner: GatewayBody,
        _request: InFlight,
    }
}

impl Tracked {
    pub fn new(inner: GatewayBody, request: InFlight) -> Self {
        Tracked {
            inner,
            _request: request,
        }
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The default connection limit: half the file descriptors this process may
/// open (its soft limit), less a reserve for listeners, config and secret
/// files and logs, so that every client connection can still have an
/// upstream connection of its own.
pub fn default_max(fd_soft_limit: Option<u64>) -> usize {
    const RESERVE: u64 = 64;
    let fds = fd_soft_limit.unwrap_or(1024);
    let max = fds.saturating_sub(RESERVE) / 2;
    usize::try_from(max.max(16)).unwrap_or(usize::MAX)
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None`
/// elsewhere or when unlimited.
pub fn fd_soft_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_leaves_room_for_upstream_connections() {
        assert_eq!(default_max(Some(1024)), 480);
        assert_eq!(default_max(Some(65536)), 32736);
        assert_eq!(default_max(Some(10)), 16);
        assert_eq!(default_max(None), 480);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_expires_and_a_busy_one_does_not() {
        let connections = Connections::new(4);
        let silent = connections.open();
        let started = Instant::now();
        silent.expired(Duration::from_secs(60), Duration::from_secs(75)).await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(60) && waited < Duration::from_secs(61),
            "{waited:?}"
        );

        let busy = connections.open();
        let request = busy.request();
        let waiting = tokio::spawn({
            let busy = busy.clone();
            async move { busy.expired(Duration::from_secs(60), Duration::from_secs(75)).await }
        });
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(!waiting.is_finished(), "a request in flight keeps the connection");
        drop(request);
        let ended = Instant::now();
        waiting.await.unwrap();
        // Kept alive after a request: the idle timeout, counted from its end.
        let waited = ended.elapsed();
        assert!(
            waited >= Duration::from_secs(74) && waited < Duration::from_secs(76),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_just_accepted_does_not_give_way_at_once() {
        let connections = Connections::new(1);
        let first = connections.slot().await;
        let fresh = connections.open();
        let next = tokio::spawn({
            let connections = connections.clone();
            async move { connections.slot().await }
        });
        let evicted = tokio::spawn({
            let fresh = fresh.clone();
            async move { fresh.expired(Duration::from_secs(60), Duration::from_secs(75)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!evicted.is_finished(), "within its first 100 ms it keeps its place");
        // Past the grace, it is the idlest and gives way.
        tokio::time::timeout(Duration::from_secs(1), evicted)
            .await
            .unwrap()
            .unwrap();
        connections.close(&fresh);
        drop(first);
        let _next = tokio::time::timeout(Duration::from_secs(1), next)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_limit_the_idlest_connection_gives_way() {
        let connections = Connections::new(2);
        let first_slot = connections.slot().await;
        let oldest = connections.open();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _second_slot = connections.slot().await;
        assert_eq!(connections.count(), 1);
        let _newer = connections.open();
        let evicted = tokio::spawn({
            let oldest = oldest.clone();
            async move { oldest.expired(Duration::from_secs(60), Duration::from_secs(75)).await }
        });
        tokio::task::yield_now().await;
        let next = tokio::spawn({
            let connections = connections.clone();
            async move { connections.slot().await }
        });
        // The oldest idle connection is told to close, well before its timeout.
        tokio::time::timeout(Duration::from_secs(1), evicted)
            .await
            .unwrap()
            .unwrap();
        drop(first_slot);
        let _slot = tokio::time::timeout(Duration::from_secs(1), next)
            .await
            .unwrap()
            .unwrap();
    }
}
