//! The memory all buffered request bodies may take together, and the time
//! one body may take to arrive.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget is counted in KiB, so one semaphore acquire (`u32` permits)
/// covers any body.
const UNIT: usize = 1024;

/// Limits on reading request bodies, shared by every request.
#[derive(Clone)]
pub struct BodyLimits {
    /// How long a client may take to send a whole request body.
    pub timeout: Duration,
    budget: Arc<Semaphore>,
    /// The budget's size in bytes (for the refusal's message).
    total: usize,
}

impl BodyLimits {
    /// `budget` bytes for every body being read or held at once; a body
    /// that would pass it is refused (503) instead of waiting.
    pub fn new(budget: usize, timeout: Duration) -> Self {
        let units = budget.div_ceil(UNIT).min(Semaphore::MAX_PERMITS);
        BodyLimits {
            timeout,
            budget: Arc::new(Semaphore::new(units)),
            total: budget,
        }
    }

    /// The budget in bytes.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes of the budget not held by any body now.
    pub fn available(&self) -> usize {
        self.budget.available_permits().saturating_mul(UNIT)
    }

    /// An empty share of the budget, grown as a body arrives.
    pub fn share(&self) -> Share {
        Share {
            budget: self.budget.clone(),
            held: None,
            bytes: 0,
        }
    }
}

/// The part of the budget one body holds; returned when dropped.
pub struct Share {
    budget: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
    /// Bytes `held` covers.
    bytes: usize,
}

impl Share {
    /// Makes the share cover `bytes`; `false` when the budget has not that much left.
    pub fn cover(&mut self, bytes: usize) -> bool {
        if bytes <= self.bytes {
            return true;
        }
        let more = bytes.div_ceil(UNIT) - self.bytes / UNIT;
        let Ok(more) = u32::try_from(more) else {
            return false;
        };
        let Ok(permit) = self.budget.clone().try_acquire_many_owned(more) else {
            return false;
        };
        match self.held.as_mut() {
            Some(held) => held.merge(permit),
            None => self.held = Some(permit),
        }
        self.bytes = (self.bytes / UNIT + more as usize) * UNIT;
        true
    }

    /// `body` as `Bytes` that give this share back when the last copy is dropped.
    pub fn attach(self, body: Vec<u8>) -> Bytes {
        Bytes::from_owner(Held { body, _share: self })
    }
}

/// A body and the share of the budget it holds.
struct Held {
    body: Vec<u8>,
    _share: Share,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_holds_its_share_until_its_last_copy_is_dropped() {
        let limits = BodyLimits::new(10 * UNIT, Duration::from_secs(60));
        let mut share = limits.share();
        assert!(share.cover(4 * UNIT + 1));
        assert_eq!(limits.available(), 5 * UNIT);
        assert!(share.cover(5 * UNIT), "already covered");
        assert!(!share.cover(11 * UNIT));
        let body = share.attach(vec![b'x'; 5 * UNIT]);
        let copy = body.clone();
        drop(body);
        assert_eq!(limits.available(), 5 * UNIT);
        drop(copy);
        assert_eq!(limits.available(), 10 * UNIT);
    }
}
