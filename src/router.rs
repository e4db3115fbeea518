//! Which deployment of a model group serves a request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::Deployment;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Picks a deployment from a non-empty group, spreading requests across it.
pub fn pick(group: &[Arc<Deployment>]) -> Arc<Deployment> {
    if group.len() == 1 {
        return group[0].clone();
    }
    group[NEXT.fetch_add(1, Ordering::Relaxed) % group.len()].clone()
}
