//! One budget's spend in its current window: the fleet's figure at the last read plus what this replica spent since.

use jiff::tz::TimeZone;

use super::period::{Period, Window};

/// A fleet read, and this replica's own spend when it was taken.
#[derive(Debug, Clone, Copy)]
struct Read {
    /// The fleet's spend in the window, as the metrics backend had it.
    fleet: f64,
    /// `Ledger::local` at the instant the read was evaluated.
    local_at: f64,
}

/// The spend of one budget. Kept across config reloads while the budget's
/// scope and period stay the same.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    /// The window the figures belong to; `None` before first use.
    window: Option<Window>,
    /// This replica's spend in the window (only grows within it).
    local: f64,
    /// The last fleet read of this window.
    read: Option<Read>,
    /// Soft thresholds already reported in this window.
    soft_reported: usize,
    /// Whether reaching the limit was reported in this window.
    limit_reported: bool,
    /// Soft thresholds crossed since start, all windows (a counter).
    pub(super) soft_crossings: u64,
}

impl Ledger {
    /// The window holding `now`, starting a new one (and forgetting the
    /// old figures) when the period has turned.
    pub(super) fn roll(&mut self, now: i64, period: Period, zone: &TimeZone) -> Window {
        if let Some(w) = self.window.filter(|w| w.contains(now)) {
            return w;
        }
        // At the calendar's edges jiff has no answer: a minute-long window
        // keeps counting rather than failing a request.
        let w = period.window(now, zone).unwrap_or(Window {
            start: now,
            end: now + 60,
        });
        *self = Ledger {
            window: Some(w),
            soft_crossings: self.soft_crossings,
            ..Ledger::default()
        };
        w
    }

    /// Spend in the window: the last fleet figure plus this replica's spend
    /// since, and never less than this replica's own spend.
    pub(super) fn spent(&self) -> f64 {
        match self.read {
            Some(r) => (r.fleet + (self.local - r.local_at)).max(self.local),
            None => self.local,
        }
    }

    /// Counts this replica's spend.
    pub(super) fn add(&mut self, cost: f64) {
        self.local += cost;
    }

    /// Where a fleet read starts: its window and this replica's spend now.
    pub(super) fn read_mark(&self) -> Option<(Window, f64)> {
        self.window.map(|w| (w, self.local))
    }

    /// Applies a fleet read taken at `mark`; dropped when the window has
    /// turned since (its figure belongs to the old period).
    pub(super) fn apply_read(&mut self, mark: (Window, f64), fleet: f64) {
        if self.window == Some(mark.0) {
            self.read = Some(Read {
                fleet,
                local_at: mark.1,
            });
        }
    }

    /// Whether a fleet figure is known for this window.
    pub(super) fn has_read(&self) -> bool {
        self.read.is_some()
    }

    /// The soft thresholds and the limit newly reached since the last call:
    /// each is reported once per window.
    pub(super) fn newly_crossed(&mut self, limit: f64, soft: &[f64]) -> Crossed {
        let spent = self.spent();
        let reached = soft.iter().take_while(|f| spent >= *f * limit).count();
        let soft_new = reached.saturating_sub(self.soft_reported);
        self.soft_reported = self.soft_reported.max(reached);
        self.soft_crossings += soft_new as u64;
        let limit_new = spent >= limit && !self.limit_reported;
        self.limit_reported |= limit_new;
        Crossed {
            soft: soft_new,
            limit: limit_new,
            spent,
        }
    }
}

/// What [`Ledger::newly_crossed`] found.
pub(super) struct Crossed {
    /// How many soft thresholds were newly reached.
    pub soft: usize,
    /// Whether the limit was newly reached.
    pub limit: bool,
    /// The spend then.
    pub spent: f64,
}
