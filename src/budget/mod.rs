//! Spend budgets without a database: admission against each budget's spend in its current period, counted locally and read fleet-wide from the metrics backend.
//!
//! The wiring is a few calls: [`Budgets::admit`] before a request is sent
//! (once the router has chosen a deployment), [`Budgets::record`] with the
//! request's cost when its record is finished (the same number as
//! `tollgate_cost_total`, see [`cost_of`]), [`Budgets::update`] on a config
//! reload, [`fleet::start`] once at startup, and [`Budgets::snapshot`] for
//! the gauges and readiness.
//!
//! # How far a budget can be overshot
//!
//! A request is admitted while the spend before it is under the limit; no
//! estimate is reserved ahead, and a request that started is never cut. The
//! spend a replica sees is the fleet's figure at its last read plus its own
//! spend since. So the fleet can spend past the limit by at most:
//!
//! - what the *other* replicas spent since this one's last read: with `R`
//!   replicas each spending at most `s` per refresh interval, `(R - 1) × s`,
//!   plus the spend the backend has not scraped yet (add the scrape interval
//!   to the refresh interval in `s`);
//! - the requests in flight when the limit is reached, on every replica,
//!   each at its full cost;
//! - the error of Prometheus' `increase()` (see [`fleet`]).
//!
//! In short: `replicas × spend per (refresh + scrape interval) + in-flight`.

pub mod fleet;
mod ledger;
pub mod period;
pub mod settings;

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use ledger::Ledger;
pub use period::{Period, Window};
pub use settings::{Action, Fleet, Scope, Settings, Spec};

/// What a request is, as far as budgets care.
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    /// The caller's client label (a client name, `master` or `anonymous`).
    pub client: &'a str,
    /// The configured model group the request goes to.
    pub group: &'a str,
    /// The chosen `model_list` entry, by position, once routed.
    pub deployment: Option<usize>,
    /// The chosen entry's provider, once routed.
    pub provider: Option<&'a str>,
}

/// The answer to [`Budgets::admit`].
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Go ahead; `tightest` is the covering budget with the least left
    /// (`None` when no budget covers the request).
    Admitted { tightest: Option<Remaining> },
    /// A `reject` budget is spent: refuse until it resets.
    Rejected {
        /// The budget's name (`client:automation`).
        budget: Arc<str>,
        /// Its limit, in the reporting currency.
        limit: f64,
        /// Its spend in this period, in the reporting currency.
        spent: f64,
        /// When it resets (Unix seconds): the `Retry-After`.
        resets_at: i64,
    },
    /// A `fallback` budget is spent: send the request to `group` instead
    /// (and admit it again there).
    Fallback {
        /// The model group to use.
        group: Arc<str>,
        /// The spent budget's name.
        budget: Arc<str>,
    },
}

/// What is left of one budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Remaining {
    /// The budget's name.
    pub budget: Arc<str>,
    /// Left in this period, in the reporting currency.
    pub amount: f64,
}

/// One budget with its spend.
struct Tracked {
    spec: Spec,
    name: Arc<str>,
    ledger: Arc<Mutex<Ledger>>,
}

impl Tracked {
    fn covers(&self, keys: &Keys) -> bool {
        match &self.spec.scope {
            Scope::Gateway => true,
            Scope::Client(c) => **c == *keys.client,
            Scope::Provider(p) => keys.provider == Some(&**p),
            Scope::Deployment { index, .. } => keys.deployment == Some(*index),
        }
    }

    /// The ledger, rolled to `now`'s window. A poisoned lock still holds
    /// figures worth using: a panic elsewhere must not stop admission.
    fn ledger(&self, now: i64, settings: &Settings) -> (std::sync::MutexGuard<'_, Ledger>, Window) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let window = ledger.roll(now, self.spec.period, &settings.zone);
        (ledger, window)
    }
}

/// The budgets of the serving config and their spend.
struct Set {
    settings: Arc<Settings>,
    tracked: Vec<Tracked>,
}

/// The budget engine: one per process, kept across config reloads.
pub struct Budgets {
    set: ArcSwap<Set>,
    /// How the last fleet read went.
    fleet: Mutex<fleet::Status>,
}

impl std::fmt::Debug for Budgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budgets")
            .field("budgets", &self.set.load().tracked.len())
            .finish_non_exhaustive()
    }
}

/// Unix seconds now.
fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl Budgets {
    /// The engine for a config's budgets, with nothing spent yet.
    pub fn new(settings: Settings) -> Self {
        let budgets = Budgets {
            set: ArcSwap::from_pointee(Set {
                settings: Arc::new(Settings::default()),
                tracked: Vec::new(),
            }),
            fleet: Mutex::new(fleet::Status::Local),
        };
        budgets.update(settings);
        budgets
    }

    /// Applies a reloaded config: a budget with the same scope and period
    /// keeps its spend (a changed limit or action applies at once); a new
    /// one starts from nothing until the next fleet read.
    pub fn update(&self, settings: Settings) {
        let old = self.set.load_full();
        let tracked = settings
            .budgets
            .iter()
            .map(|spec| {
                let kept = old
                    .tracked
                    .iter()
                    .find(|t| t.spec.scope == spec.scope && t.spec.period == spec.period);
                Tracked {
                    name: spec.scope.name().into(),
                    spec: spec.clone(),
                    ledger: kept.map_or_else(Arc::default, |t| t.ledger.clone()),
                }
            })
            .collect();
        let fleet_changed = old.settings.fleet != settings.fleet;
        self.set.store(Arc::new(Set {
            settings: Arc::new(settings),
            tracked,
        }));
        if fleet_changed {
            let mut status = self.fleet.lock().unwrap_or_else(|p| p.into_inner());
            *status = fleet::Status::initial(&self.set.load().settings);
        }
    }

    /// Whether any budget is configured (else admission always admits).
    pub fn is_empty(&self) -> bool {
        self.set.load().tracked.is_empty()
    }

    /// Decides a request before it is sent: see [`Verdict`].
    pub fn admit(&self, keys: &Keys) -> Verdict {
        self.admit_at(keys, now())
    }

    /// [`Budgets::admit`] at `now` (Unix seconds).
    ///
    /// Every budget covering `keys` is checked. A spent `fallback` budget
    /// never blocks requests to its own fallback group (so falling back
    /// cannot loop); otherwise a spent `fallback` budget wins over a spent
    /// `reject` one, since the fallback group is admitted again on its own.
    /// Among spent `reject` budgets the one that resets last is reported,
    /// so its reset time is an honest `Retry-After`.
    pub fn admit_at(&self, keys: &Keys, now: i64) -> Verdict {
        let set = self.set.load();
        let mut tightest: Option<Remaining> = None;
        let mut rejected: Option<Verdict> = None;
        let mut fallback: Option<Verdict> = None;
        for t in set.tracked.iter().filter(|t| t.covers(keys)) {
            let (ledger, window) = t.ledger(now, &set.settings);
            let spent = ledger.spent();
            drop(ledger);
            if spent < t.spec.limit {
                let amount = t.spec.limit - spent;
                if tightest.as_ref().is_none_or(|r| amount < r.amount) {
                    tightest = Some(Remaining {
                        budget: t.name.clone(),
                        amount,
                    });
                }
                continue;
            }
            match &t.spec.action {
                Action::Fallback(group) if **group == *keys.group => {}
                Action::Fallback(group) => {
                    fallback.get_or_insert_with(|| Verdict::Fallback {
                        group: group.clone(),
                        budget: t.name.clone(),
                    });
                }
                Action::Reject => {
                    let later = match &rejected {
                        Some(Verdict::Rejected { resets_at, .. }) => window.end > *resets_at,
                        _ => true,
                    };
                    if later {
                        rejected = Some(Verdict::Rejected {
                            budget: t.name.clone(),
                            limit: t.spec.limit,
                            spent,
                            resets_at: window.end,
                        });
                    }
                }
            }
        }
        fallback.or(rejected).unwrap_or(Verdict::Admitted { tightest })
    }

    /// Counts a finished request's cost (in the reporting currency) against
    /// every budget covering it.
    pub fn record(&self, keys: &Keys, cost: f64) {
        self.record_at(keys, cost, now());
    }

    /// [`Budgets::record`] at `now` (Unix seconds).
    pub fn record_at(&self, keys: &Keys, cost: f64, now: i64) {
        if !(cost.is_finite() && cost > 0.0) {
            return;
        }
        let set = self.set.load();
        for t in set.tracked.iter().filter(|t| t.covers(keys)) {
            let (mut ledger, window) = t.ledger(now, &set.settings);
            ledger.add(cost);
            report(t, &mut ledger, window);
        }
    }

    /// The gauges' values and the fleet reader's state.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_at(now())
    }

    /// [`Budgets::snapshot`] at `now` (Unix seconds).
    pub fn snapshot_at(&self, now: i64) -> Snapshot {
        let set = self.set.load();
        let budgets = set
            .tracked
            .iter()
            .map(|t| {
                let (ledger, window) = t.ledger(now, &set.settings);
                let spent = ledger.spent();
                Gauge {
                    budget: t.name.clone(),
                    limit: t.spec.limit,
                    spent,
                    remaining: (t.spec.limit - spent).max(0.0),
                    period_start: window.start,
                    period_end: window.end,
                    fleet_read: ledger.has_read(),
                    soft_crossings: ledger.soft_crossings,
                }
            })
            .collect();
        let fleet = self.fleet.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Snapshot { budgets, fleet }
    }
}

/// Logs the soft thresholds and the limit a budget newly reached.
fn report(t: &Tracked, ledger: &mut Ledger, window: Window) {
    let crossed = ledger.newly_crossed(t.spec.limit, &t.spec.soft);
    if crossed.soft > 0 {
        tracing::warn!(
            budget = &*t.name,
            limit = t.spec.limit,
            spent = crossed.spent,
            resets_at = window.end,
            "budget passed a soft threshold"
        );
    }
    if crossed.limit {
        let then = match &t.spec.action {
            Action::Reject => "requests it covers are rejected until it resets".to_string(),
            Action::Fallback(group) => format!("requests it covers go to `{group}` until it resets"),
        };
        tracing::warn!(
            budget = &*t.name,
            limit = t.spec.limit,
            spent = crossed.spent,
            resets_at = window.end,
            "budget spent; {then}"
        );
    }
}

/// Every budget's figures at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// One per budget, in config order (most specific first).
    pub budgets: Vec<Gauge>,
    /// Where the fleet figures stand.
    pub fleet: fleet::Status,
}

/// The gauge values of one budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    /// The budget's name (`gateway`, `client:automation`, ...).
    pub budget: Arc<str>,
    /// The limit, in the reporting currency.
    pub limit: f64,
    /// Spent in the current period: the fleet's, as far as known.
    pub spent: f64,
    /// `limit - spent`, never below 0.
    pub remaining: f64,
    /// When the current period started (Unix seconds).
    pub period_start: i64,
    /// When it ends and the budget resets (Unix seconds).
    pub period_end: i64,
    /// Whether `spent` includes a fleet read of this period (else it is this
    /// replica's spend alone).
    pub fleet_read: bool,
    /// Soft thresholds crossed since start (a counter).
    pub soft_crossings: u64,
}

/// A finished request's cost in the reporting currency, computed as
/// `tollgate_cost_total` counts it; `None` when unpriced or without usage.
pub fn cost_of(record: &crate::record::Record) -> Option<f64> {
    let price = record.deployment.as_ref()?.price.as_ref()?;
    let usage = record.usage.as_ref()?;
    Some(record.currency.convert(crate::spend::cost_usd(price, usage)))
}

#[cfg(test)]
mod tests;
