//! The budget gauges: each budget's limit, spend, remainder and period end, and the fleet reader's state, read from the engine when metrics are collected.

use std::sync::{Arc, RwLock, Weak};

use opentelemetry::metrics::{Meter, ObservableGauge};
use opentelemetry::KeyValue;

use super::names as n;
use crate::budget::{Budgets, Snapshot};

/// The engine the gauges read; weak, so a dropped gateway (tests) is not kept.
static SOURCE: RwLock<Option<Weak<Budgets>>> = RwLock::new(None);

/// Sets the engine the budget gauges read when metrics are collected.
pub fn watch_budgets(budgets: &Arc<Budgets>) {
    let mut slot = SOURCE.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = Some(Arc::downgrade(budgets));
}

/// The engine's figures now, when there is an engine with budgets.
fn snapshot() -> Option<Snapshot> {
    let slot = SOURCE.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    let budgets = slot.as_ref()?.upgrade()?;
    (!budgets.is_empty()).then(|| budgets.snapshot())
}

/// The gauges, registered on `meter`; kept alive by the instruments.
pub(super) fn gauges(meter: &Meter) -> Vec<ObservableGauge<f64>> {
    let gauge =
        |name: &'static str, unit: &'static str, about: &'static str, value: fn(&crate::budget::Gauge) -> f64| {
            meter
                .f64_observable_gauge(name)
                .with_unit(unit)
                .with_description(about)
                .with_callback(move |observer| {
                    for g in snapshot().into_iter().flat_map(|s| s.budgets) {
                        observer.observe(value(&g), &[KeyValue::new(n::BUDGET, g.budget.to_string())]);
                    }
                })
                .build()
        };
    vec![
        gauge(n::BUDGET_LIMIT, "{currency}", "Budget limit per period.", |g| g.limit),
        gauge(
            n::BUDGET_SPENT,
            "{currency}",
            "Budget spend in the current period.",
            |g| g.spent,
        ),
        gauge(
            n::BUDGET_REMAINING,
            "{currency}",
            "Budget left in the current period.",
            |g| g.remaining,
        ),
        gauge(
            n::BUDGET_PERIOD_END,
            "",
            "When the budget's period ends (Unix seconds).",
            |g| g.period_end as f64,
        ),
        meter
            .f64_observable_gauge(n::BUDGET_SOURCE)
            .with_description("1 for the state of the fleet spend reader.")
            .with_callback(|observer| {
                let Some(snapshot) = snapshot() else { return };
                let now = snapshot.fleet.label();
                for state in ["local", "pending", "fresh", "stale"] {
                    let value = if state == now { 1.0 } else { 0.0 };
                    observer.observe(value, &[KeyValue::new(n::BUDGET_SOURCE_STATE, state)]);
                }
            })
            .build(),
    ]
}
