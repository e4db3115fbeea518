//! The engine: admission at the limit, each action, coverage, soft thresholds, reloads, fleet reads and the overshoot bound.

use super::*;

/// 2024-06-12T10:00:00Z, a Wednesday.
const NOON: i64 = 1_718_186_400;

fn spec(scope: Scope, limit: f64, period: &str, action: Action) -> Spec {
    Spec {
        scope,
        limit,
        period: Period::parse(period).unwrap(),
        action,
        soft: vec![],
    }
}

fn engine(specs: Vec<Spec>) -> Budgets {
    Budgets::new(Settings {
        budgets: specs,
        ..Settings::default()
    })
}

fn keys<'a>(client: &'a str, group: &'a str) -> Keys<'a> {
    Keys {
        client,
        group,
        deployment: Some(0),
        provider: Some("openai"),
    }
}

fn remaining(v: &Verdict) -> f64 {
    match v {
        Verdict::Admitted { tightest: Some(r) } => r.amount,
        other => panic!("not admitted with a budget: {other:?}"),
    }
}

#[test]
fn a_request_is_admitted_while_the_spend_before_it_is_under_the_limit() {
    let b = engine(vec![spec(Scope::Gateway, 10.0, "1d", Action::Reject)]);
    let k = keys("ci", "gpt");
    b.record_at(&k, 9.0, NOON);
    assert!((remaining(&b.admit_at(&k, NOON)) - 1.0).abs() < 1e-9);
    // This request was admitted at 9 and costs 3: it finishes, past the limit.
    b.record_at(&k, 3.0, NOON);
    let Verdict::Rejected {
        budget,
        limit,
        spent,
        resets_at,
    } = b.admit_at(&k, NOON + 1)
    else {
        panic!("not rejected")
    };
    assert_eq!((&*budget, limit, spent), ("gateway", 10.0, 12.0));
    assert_eq!(resets_at, 1_718_236_800, "next UTC midnight");
    // Exactly at the limit is spent too.
    let exact = engine(vec![spec(Scope::Gateway, 5.0, "1d", Action::Reject)]);
    exact.record_at(&k, 5.0, NOON);
    assert!(matches!(exact.admit_at(&k, NOON), Verdict::Rejected { .. }));
    // And the next period starts from nothing.
    assert!((remaining(&b.admit_at(&k, resets_at)) - 10.0).abs() < 1e-9);
}

#[test]
fn a_zero_budget_admits_nothing_and_no_budget_admits_everything() {
    let zero = engine(vec![spec(Scope::Gateway, 0.0, "1mo", Action::Reject)]);
    assert!(matches!(
        zero.admit_at(&keys("ci", "gpt"), NOON),
        Verdict::Rejected { .. }
    ));
    let none = engine(vec![]);
    assert!(none.is_empty());
    assert_eq!(
        none.admit_at(&keys("ci", "gpt"), NOON),
        Verdict::Admitted { tightest: None }
    );
}

#[test]
fn a_spent_fallback_budget_sends_requests_to_its_group_and_never_blocks_it() {
    let b = engine(vec![spec(
        Scope::Gateway,
        100.0,
        "1mo",
        Action::Fallback("local-llama".into()),
    )]);
    b.record_at(&keys("me", "kimi-code"), 100.0, NOON);
    assert_eq!(
        b.admit_at(&keys("me", "kimi-code"), NOON),
        Verdict::Fallback {
            group: "local-llama".into(),
            budget: "gateway".into()
        }
    );
    // The fallback group itself goes through, with no budget left to show.
    assert_eq!(
        b.admit_at(&keys("me", "local-llama"), NOON),
        Verdict::Admitted { tightest: None }
    );
}

#[test]
fn a_fallback_wins_over_a_rejection_and_the_latest_reset_is_reported() {
    let b = engine(vec![
        spec(Scope::Client("me".into()), 1.0, "1h", Action::Reject),
        spec(Scope::Provider("openai".into()), 1.0, "1d", Action::Reject),
        spec(Scope::Gateway, 1.0, "1mo", Action::Reject),
    ]);
    b.record_at(&keys("me", "gpt"), 2.0, NOON);
    let Verdict::Rejected { budget, resets_at, .. } = b.admit_at(&keys("me", "gpt"), NOON) else {
        panic!("not rejected")
    };
    assert_eq!(&*budget, "gateway", "the month resets last");
    assert_eq!(resets_at, 1_719_792_000, "2024-07-01T00:00:00Z");

    let with_fallback = engine(vec![
        spec(Scope::Client("me".into()), 1.0, "1d", Action::Fallback("cheap".into())),
        spec(Scope::Gateway, 1.0, "1d", Action::Reject),
    ]);
    with_fallback.record_at(&keys("me", "gpt"), 2.0, NOON);
    assert!(matches!(
        with_fallback.admit_at(&keys("me", "gpt"), NOON),
        Verdict::Fallback { .. }
    ));
    // Admitted again in the fallback group, the gateway budget still rejects.
    assert!(matches!(
        with_fallback.admit_at(&keys("me", "cheap"), NOON),
        Verdict::Rejected { .. }
    ));
}

#[test]
fn each_budget_covers_only_its_own_requests() {
    let b = engine(vec![
        spec(
            Scope::Deployment {
                index: 3,
                model_name: "kimi".into(),
                provider: "openrouter",
                sole_of_provider: true,
            },
            5.0,
            "1d",
            Action::Reject,
        ),
        spec(Scope::Provider("openai".into()), 5.0, "1d", Action::Reject),
        spec(Scope::Client("ci".into()), 5.0, "1d", Action::Reject),
        spec(Scope::Gateway, 100.0, "1d", Action::Reject),
    ]);
    let kimi = Keys {
        client: "me",
        group: "kimi",
        deployment: Some(3),
        provider: Some("openrouter"),
    };
    let gpt = Keys {
        client: "me",
        group: "gpt",
        deployment: Some(0),
        provider: Some("openai"),
    };
    b.record_at(&kimi, 6.0, NOON);
    assert!(matches!(b.admit_at(&kimi, NOON), Verdict::Rejected { ref budget, .. } if &**budget == "deployment:3"));
    assert!(
        (remaining(&b.admit_at(&gpt, NOON)) - 5.0).abs() < 1e-9,
        "openai untouched"
    );
    b.record_at(&gpt, 6.0, NOON);
    assert!(matches!(b.admit_at(&gpt, NOON), Verdict::Rejected { ref budget, .. } if &**budget == "provider:openai"));
    // Another client on another provider only sees the gateway budget.
    let other = Keys {
        client: "ci",
        group: "x",
        deployment: Some(9),
        provider: Some("lm_studio"),
    };
    let Verdict::Admitted { tightest: Some(t) } = b.admit_at(&other, NOON) else {
        panic!()
    };
    assert_eq!(
        (&*t.budget, t.amount),
        ("client:ci", 5.0),
        "the tightest budget is shown"
    );
    // Before routing, only the budgets that need no deployment apply.
    let unrouted = Keys {
        deployment: None,
        provider: None,
        ..kimi
    };
    assert!((remaining(&b.admit_at(&unrouted, NOON)) - 88.0).abs() < 1e-9);
}

#[test]
fn soft_thresholds_count_once_per_period() {
    let mut s = spec(Scope::Gateway, 10.0, "1h", Action::Reject);
    s.soft = vec![0.5, 0.8];
    let b = engine(vec![s]);
    let k = keys("me", "gpt");
    let crossings = |b: &Budgets, at| b.snapshot_at(at).budgets[0].soft_crossings;
    b.record_at(&k, 4.0, NOON);
    assert_eq!(crossings(&b, NOON), 0);
    b.record_at(&k, 1.0, NOON);
    assert_eq!(crossings(&b, NOON), 1, "50 % reached");
    b.record_at(&k, 0.5, NOON);
    assert_eq!(crossings(&b, NOON), 1, "counted once");
    b.record_at(&k, 10.0, NOON);
    assert_eq!(crossings(&b, NOON), 2, "80 % reached, and the limit");
    // Soft thresholds never refuse anything before the limit.
    assert!(matches!(b.admit_at(&k, NOON), Verdict::Rejected { .. }));
    b.record_at(&k, 9.0, NOON + 3600);
    assert_eq!(crossings(&b, NOON + 3600), 4, "a new hour counts again");
}

#[test]
fn the_snapshot_holds_the_gauges() {
    let b = engine(vec![spec(Scope::Gateway, 100.0, "1mo", Action::Reject)]);
    b.record_at(&keys("me", "gpt"), 30.0, NOON);
    let s = b.snapshot_at(NOON);
    assert_eq!(s.fleet, fleet::Status::Local);
    let g = &s.budgets[0];
    assert_eq!(
        (&*g.budget, g.limit, g.spent, g.remaining),
        ("gateway", 100.0, 30.0, 70.0)
    );
    assert_eq!((g.period_start, g.period_end), (1_717_200_000, 1_719_792_000));
    assert!(!g.fleet_read);
    b.record_at(&keys("me", "gpt"), 80.0, NOON);
    assert_eq!(b.snapshot_at(NOON).budgets[0].remaining, 0.0, "never negative");
}

#[test]
fn a_reload_keeps_the_spend_of_budgets_it_keeps() {
    let b = engine(vec![
        spec(Scope::Gateway, 10.0, "1d", Action::Reject),
        spec(Scope::Client("ci".into()), 10.0, "1d", Action::Reject),
    ]);
    b.record_at(&keys("ci", "gpt"), 4.0, NOON);
    b.update(Settings {
        budgets: vec![
            // Same scope and period, new limit: the spend stays.
            spec(Scope::Gateway, 5.0, "1d", Action::Reject),
            // Same scope, new period: a new budget.
            spec(Scope::Client("ci".into()), 10.0, "1h", Action::Reject),
        ],
        ..Settings::default()
    });
    let s = b.snapshot_at(NOON);
    assert_eq!((s.budgets[0].spent, s.budgets[0].limit), (4.0, 5.0));
    assert_eq!(s.budgets[1].spent, 0.0);
}

/// Applies a fleet read of `fleet` taken at `at` to budget `i`.
fn fleet_read(b: &Budgets, i: usize, at: i64, fleet: f64) {
    let set = b.set.load();
    let t = &set.tracked[i];
    let mark = t.ledger(at, &set.settings).0.read_mark().unwrap();
    t.ledger.lock().unwrap().apply_read(mark, fleet);
}

#[test]
fn a_fleet_read_adds_the_other_replicas_and_local_spend_since_counts_on_top() {
    let b = engine(vec![spec(Scope::Gateway, 100.0, "1d", Action::Reject)]);
    let k = keys("me", "gpt");
    b.record_at(&k, 10.0, NOON);
    // The fleet (this replica's 10 included) had spent 60 at the read.
    fleet_read(&b, 0, NOON + 1, 60.0);
    b.record_at(&k, 5.0, NOON + 2);
    assert_eq!(b.snapshot_at(NOON + 2).budgets[0].spent, 65.0);
    assert!(b.snapshot_at(NOON + 2).budgets[0].fleet_read);
    // A read lagging behind this replica's own spend never lowers it.
    fleet_read(&b, 0, NOON + 3, 1.0);
    assert_eq!(b.snapshot_at(NOON + 3).budgets[0].spent, 15.0);
    // A read of a period that has ended is dropped with it.
    let set = b.set.load();
    let t = &set.tracked[0];
    let old = t.ledger(NOON + 4, &set.settings).0.read_mark().unwrap();
    let tomorrow = NOON + 86_400;
    drop(t.ledger(tomorrow, &set.settings));
    t.ledger.lock().unwrap().apply_read(old, 500.0);
    assert_eq!(b.snapshot_at(tomorrow).budgets[0].spent, 0.0);
}

/// Replicas sharing one budget, each sending one request of `cost` per
/// second while admitted, reading the fleet's spend every `refresh`
/// seconds (staggered) from a backend that has it as of `lag` seconds ago
/// (the scrape interval). Returns the fleet's total spend once all reject;
/// `refresh == 0` means no reads at all.
fn simulate(replicas: usize, refresh: i64, lag: i64, cost: f64, limit: f64) -> f64 {
    let engines: Vec<Budgets> = (0..replicas)
        .map(|_| engine(vec![spec(Scope::Gateway, limit, "1d", Action::Reject)]))
        .collect();
    // The fleet's total at the start of each second.
    let mut history = vec![0.0];
    let k = keys("me", "gpt");
    for second in 0..100_000 {
        let now = NOON + second;
        let total = *history.last().unwrap();
        let scraped = history[history.len().saturating_sub(1 + lag as usize)];
        let mut spent = 0.0;
        for (r, b) in engines.iter().enumerate() {
            if refresh > 0 && (second + r as i64) % refresh == 0 {
                fleet_read(b, 0, now, scraped);
            }
            if matches!(b.admit_at(&k, now), Verdict::Admitted { .. }) {
                b.record_at(&k, cost, now);
                spent += cost;
            }
        }
        if spent == 0.0 {
            return total;
        }
        history.push(total + spent);
    }
    panic!("the budget never closed")
}

#[test]
fn the_overshoot_stays_within_replicas_times_spend_per_refresh_plus_in_flight() {
    let (limit, cost) = (100.0, 0.7);
    for replicas in [1, 2, 3, 5] {
        for (refresh, lag) in [(1, 0), (5, 0), (5, 15)] {
            let total = simulate(replicas, refresh, lag, cost, limit);
            // Each replica spends `cost` a second: per refresh and scrape interval,
            // and one request in flight when the limit is reached.
            let per_interval = (refresh + lag) as f64 * cost;
            let bound = limit + replicas as f64 * (per_interval + cost);
            assert!(total >= limit, "{replicas} replicas, {refresh} s: {total}");
            assert!(
                total <= bound,
                "{replicas} replicas, refresh {refresh} s, lag {lag} s: spent {total}, bound {bound}"
            );
        }
    }
    // Without fleet reads each replica spends the whole budget on its own.
    let alone = simulate(3, 0, 0, cost, limit);
    assert!(alone >= 3.0 * limit, "{alone}");
}
