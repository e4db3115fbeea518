//! Which deployment serves a request: skip those cooling down or over their
//! rpm/tpm, keep the best `order` tier, then apply the group's strategy.

mod state;

use std::sync::Arc;
use std::time::Duration;

pub use state::{now_ms, Busy, Health, State};

use crate::config::routing::Strategy;
use crate::config::Deployment;

/// No deployment of the group can take a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable {
    /// When the first of them is expected back.
    pub retry_after: Duration,
}

/// Picks a deployment. Deployments in `tried` are used again only when
/// every other healthy one has been tried.
pub fn pick(group: &[Arc<Deployment>], strategy: Strategy, tried: &[usize]) -> Result<Arc<Deployment>, Unavailable> {
    let now = now_ms();
    let healthy = |d: &&Arc<Deployment>| d.state.cooling(now).is_none() && !d.state.over_limit(d.rpm, d.tpm, now);
    // A group of one (the usual case) needs no candidate lists: the same
    // answer as below, without their allocations.
    if let [only] = group {
        return match healthy(&only) {
            true => Ok(only.clone()),
            false => Err(Unavailable {
                retry_after: only.state.cooling(now).unwrap_or(Duration::from_secs(1)),
            }),
        };
    }
    let fresh: Vec<&Arc<Deployment>> = group
        .iter()
        .filter(healthy)
        .filter(|d| !tried.contains(&d.index))
        .collect();
    let candidates = if fresh.is_empty() {
        group.iter().filter(healthy).collect()
    } else {
        fresh
    };
    let best = candidates.iter().map(|d| d.order).min();
    let tier: Vec<&Arc<Deployment>> = candidates.into_iter().filter(|d| Some(d.order) == best).collect();
    let chosen = match (strategy, tier.as_slice()) {
        (_, [only]) => Some(*only),
        (Strategy::SimpleShuffle, _) => shuffle(&tier),
        (Strategy::LeastBusy, _) => lowest(&tier, |d| d.state.in_flight() as u64),
        (Strategy::LatencyBased, _) => lowest(&tier, |d| d.state.latency_us()),
    };
    match chosen {
        Some(chosen) => Ok(chosen.clone()),
        // No candidate at all: every deployment is cooling down or over its limits.
        None => {
            let retry_after = group
                .iter()
                .map(|d| d.state.cooling(now).unwrap_or(Duration::from_secs(1)))
                .min()
                .unwrap_or(Duration::from_secs(1));
            Err(Unavailable { retry_after })
        }
    }
}

/// Random choice weighted by `weight`, else `rpm`, else `tpm`, else equal
/// (LiteLLM's simple-shuffle). Entries without the chosen key weigh 1.
/// `None` only for an empty tier.
fn shuffle<'a>(tier: &[&'a Arc<Deployment>]) -> Option<&'a Arc<Deployment>> {
    let weight_of: fn(&Deployment) -> Option<f64> = if tier.iter().any(|d| d.weight.is_some()) {
        |d| d.weight
    } else if tier.iter().any(|d| d.rpm.is_some()) {
        |d| d.rpm.map(|r| r as f64)
    } else if tier.iter().any(|d| d.tpm.is_some()) {
        |d| d.tpm.map(|t| t as f64)
    } else {
        return fastrand::choice(tier.iter().copied());
    };
    let weights: Vec<f64> = tier.iter().map(|d| weight_of(d).unwrap_or(1.0).max(0.0)).collect();
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return fastrand::choice(tier.iter().copied());
    }
    let mut point = fastrand::f64() * total;
    for (d, w) in tier.iter().zip(&weights) {
        if point < *w {
            return Some(d);
        }
        point -= w;
    }
    tier.last().copied()
}

/// The deployment with the lowest `key`; ties broken at random so equal
/// deployments share the load. `None` only for an empty tier.
fn lowest<'a>(tier: &[&'a Arc<Deployment>], key: impl Fn(&Deployment) -> u64) -> Option<&'a Arc<Deployment>> {
    let best = tier.iter().map(|d| key(d)).min()?;
    let ties: Vec<&'a Arc<Deployment>> = tier.iter().copied().filter(|d| key(d) == best).collect();
    fastrand::choice(ties)
}

#[cfg(test)]
mod tests;
