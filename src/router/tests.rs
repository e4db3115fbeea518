//! Strategy distributions, priority tiers, limits and cooldowns (on tokio's
//! paused clock, so no test sleeps).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::routing::{ErrorClass, Strategy};
use crate::config::{load_str, Config};

fn config(entries: &[&str], routing: &str) -> Config {
    let mut yaml = String::from("model_list:\n");
    for (i, extra) in entries.iter().enumerate() {
        yaml.push_str(&format!(
            "  - model_name: g\n    litellm_params:\n      model: openai/m{i}\n      api_base: http://127.0.0.1:9/v1\n{extra}"
        ));
    }
    yaml.push_str(routing);
    load_str(&yaml, std::path::Path::new("."), &|_| None)
        .expect("loads")
        .config
}

fn counts(config: &Config, strategy: Strategy, n: usize) -> HashMap<usize, usize> {
    let group = config.group("g").unwrap();
    let mut seen = HashMap::new();
    for _ in 0..n {
        *seen.entry(pick(group, strategy, &[]).unwrap().index).or_default() += 1;
    }
    seen
}

fn share(seen: &HashMap<usize, usize>, index: usize, n: usize) -> f64 {
    *seen.get(&index).unwrap_or(&0) as f64 / n as f64
}

#[test]
fn simple_shuffle_is_even_without_weights() {
    let c = config(&["", "", "", ""], "");
    let seen = counts(&c, Strategy::SimpleShuffle, 40_000);
    for i in 0..4 {
        assert!((share(&seen, i, 40_000) - 0.25).abs() < 0.02, "{seen:?}");
    }
}

#[test]
fn simple_shuffle_follows_weight_then_rpm() {
    let c = config(&["      weight: 3\n", "      weight: 1\n"], "");
    let seen = counts(&c, Strategy::SimpleShuffle, 40_000);
    assert!((share(&seen, 0, 40_000) - 0.75).abs() < 0.02, "{seen:?}");
    let c = config(&["      rpm: 900000\n", "      rpm: 100000\n"], "");
    let seen = counts(&c, Strategy::SimpleShuffle, 20_000);
    assert!((share(&seen, 0, 20_000) - 0.9).abs() < 0.02, "{seen:?}");
}

#[test]
fn lower_order_serves_first_and_higher_only_when_it_cannot() {
    let c = config(
        &["      order: 2\n", "      order: 1\n", "      order: 1\n"],
        "router_settings:\n  cooldown_time: 60\n",
    );
    let seen = counts(&c, Strategy::SimpleShuffle, 1000);
    assert_eq!(seen.get(&0), None, "order 2 waits while order 1 is healthy: {seen:?}");
    let group = c.group("g").unwrap();
    group[1].state.failed(Health::Down, &c.routing);
    group[2].state.failed(Health::Down, &c.routing);
    assert_eq!(pick(group, Strategy::SimpleShuffle, &[]).unwrap().index, 0);
}

#[test]
fn least_busy_takes_the_idlest() {
    let c = config(&["", "", ""], "");
    let group = c.group("g").unwrap();
    let _a = (Busy::start(&group[0]), Busy::start(&group[0]));
    let _b = Busy::start(&group[1]);
    assert_eq!(pick(group, Strategy::LeastBusy, &[]).unwrap().index, 2);
    let _c = (Busy::start(&group[2]), Busy::start(&group[2]));
    assert_eq!(pick(group, Strategy::LeastBusy, &[]).unwrap().index, 1);
    drop(_a);
    assert_eq!(
        pick(group, Strategy::LeastBusy, &[]).unwrap().index,
        0,
        "finished requests are no longer counted"
    );
}

#[test]
fn latency_based_prefers_untried_then_fastest() {
    let c = config(&["", "", ""], "");
    let group = c.group("g").unwrap();
    group[0].state.observe_latency(Duration::from_millis(300));
    group[1].state.observe_latency(Duration::from_millis(40));
    assert_eq!(
        pick(group, Strategy::LatencyBased, &[]).unwrap().index,
        2,
        "an untried deployment is measured first"
    );
    group[2].state.observe_latency(Duration::from_millis(90));
    let seen = counts(&c, Strategy::LatencyBased, 100);
    assert_eq!(seen.get(&1), Some(&100), "{seen:?}");
}

#[test]
fn tried_deployments_come_last() {
    let c = config(&["", ""], "");
    let group = c.group("g").unwrap();
    for _ in 0..50 {
        assert_eq!(pick(group, Strategy::SimpleShuffle, &[0]).unwrap().index, 1);
    }
    assert!(
        pick(group, Strategy::SimpleShuffle, &[0, 1]).is_ok(),
        "all tried: retry one of them"
    );
}

#[test]
fn rpm_limits_are_counted_per_minute() {
    let c = config(&["      rpm: 2\n", "      rpm: 1000\n      order: 2\n"], "");
    let group = c.group("g").unwrap();
    let _held: Vec<Busy> = (0..2).map(|_| Busy::start(&group[0])).collect();
    assert_eq!(
        pick(group, Strategy::SimpleShuffle, &[]).unwrap().index,
        1,
        "the first is at its rpm"
    );
}

#[tokio::test(start_paused = true)]
async fn tpm_limits_count_served_tokens_until_the_minute_turns() {
    let c = config(&["      tpm: 1000\n      order: 1\n", "      order: 2\n"], "");
    let group = c.group("g").unwrap();
    group[0].state.add_tokens(999);
    assert_eq!(pick(group, Strategy::SimpleShuffle, &[]).unwrap().index, 0);
    group[0].state.add_tokens(1);
    assert_eq!(
        pick(group, Strategy::SimpleShuffle, &[]).unwrap().index,
        1,
        "the budget is spent"
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        pick(group, Strategy::SimpleShuffle, &[]).unwrap().index,
        0,
        "a new minute, a new budget"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_deployment_cools_down_and_comes_back() {
    let c = config(&["", ""], "router_settings:\n  allowed_fails: 2\n  cooldown_time: 30\n");
    let group = c.group("g").unwrap();
    // Two failures are allowed; the third within a minute cools it down.
    assert!(!group[0].state.failed(Health::Failing, &c.routing));
    assert!(!group[0].state.failed(Health::Failing, &c.routing));
    assert!(group[0].state.failed(Health::Failing, &c.routing));
    for _ in 0..100 {
        assert_eq!(pick(group, Strategy::SimpleShuffle, &[]).unwrap().index, 1);
    }
    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(group[0].state.cooling(now_ms()).is_some());
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(
        group[0].state.cooling(now_ms()).is_none(),
        "readmitted after cooldown_time"
    );
    let seen = counts(&c, Strategy::SimpleShuffle, 1000);
    assert!(seen.get(&0).copied().unwrap_or(0) > 300, "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn failures_older_than_a_minute_are_forgotten_and_bad_requests_never_count() {
    let c = config(&["", ""], "router_settings:\n  allowed_fails: 1\n");
    let group = c.group("g").unwrap();
    assert!(!group[0].state.failed(Health::Failing, &c.routing));
    tokio::time::advance(Duration::from_secs(61)).await;
    assert!(
        !group[0].state.failed(Health::Failing, &c.routing),
        "a new minute starts a new count"
    );
    for _ in 0..10 {
        assert!(!group[1].state.failed(Health::Unaffected, &c.routing));
    }
    assert!(
        group[1].state.failed(Health::Down, &c.routing),
        "a 429 cools down at once"
    );
}

#[tokio::test(start_paused = true)]
async fn all_cooling_down_says_when_to_come_back() {
    let c = config(&["", ""], "router_settings:\n  cooldown_time: 10\n");
    let group = c.group("g").unwrap();
    group[0].state.failed(Health::Down, &c.routing);
    tokio::time::advance(Duration::from_secs(4)).await;
    group[1].state.failed(Health::Down, &c.routing);
    let Err(Unavailable { retry_after }) = pick(group, Strategy::SimpleShuffle, &[]) else {
        panic!("all cooling")
    };
    let ms = retry_after.as_millis();
    assert!(
        (5_990..=6_010).contains(&ms),
        "the earliest comes back in 6 s, not {retry_after:?}"
    );
}

#[test]
fn wildcards_aliases_and_fallback_lists() {
    let yaml = "model_list:\n  - model_name: \"openai/*\"\n    litellm_params:\n      model: \"openai/*\"\n  - model_name: \"*\"\n    litellm_params:\n      model: \"openai/*\"\n      api_base: http://127.0.0.1:9/v1\n  - model_name: big\n    litellm_params:\n      model: openai/gpt-4o\n  - model_name: small\n    litellm_params:\n      model: openai/gpt-4o-mini\nrouter_settings:\n  model_group_alias:\n    fast: small\n    secret: {model: big, hidden: true}\n  fallbacks: [{big: [small]}]\n  context_window_fallbacks: [{small: [big]}]\nlitellm_settings:\n  default_fallbacks: [small]\n";
    let c = load_str(yaml, std::path::Path::new("."), &|_| None).unwrap().config;
    let r = c.resolve("openai/gpt-4.1").unwrap();
    assert_eq!(&**r.group, "openai/*", "the more specific wildcard wins");
    assert_eq!(r.deployments[0].upstream_for(r.name), "gpt-4.1");
    let r = c.resolve("llama3").unwrap();
    assert_eq!((&**r.group, &*r.deployments[0].upstream_for(r.name)), ("*", "llama3"));
    assert_eq!(&**c.resolve("fast").unwrap().group, "small");
    assert_eq!(&**c.resolve("big").unwrap().group, "big", "exact names beat wildcards");
    let group = r.deployments;
    let listed: Vec<&str> = c.listed_names().collect();
    assert!(listed.contains(&"fast") && !listed.contains(&"secret"), "{listed:?}");
    let r = &c.routing;
    assert_eq!(r.fallbacks_for("big", ErrorClass::RateLimit), ["small"]);
    assert_eq!(r.fallbacks_for("small", ErrorClass::ContextWindow), ["big"]);
    assert_eq!(
        r.fallbacks_for("small", ErrorClass::InternalServer),
        Vec::<&str>::new(),
        "small is its own default"
    );
    assert_eq!(
        r.fallbacks_for("openai/*", ErrorClass::Timeout),
        ["small"],
        "default_fallbacks"
    );
    assert_eq!(r.retries_for(ErrorClass::ContextWindow), 0);
    let _ = Arc::clone(&group[0]);
}

#[tokio::test(start_paused = true)]
async fn a_group_of_one_is_picked_again_until_it_cools_down() {
    let c = config(&["      rpm: 1000\n"], "router_settings:\n  cooldown_time: 10\n");
    let group = c.group("g").unwrap();
    assert_eq!(group.len(), 1);
    assert_eq!(pick(group, Strategy::LeastBusy, &[]).unwrap().index, 0);
    assert_eq!(
        pick(group, Strategy::SimpleShuffle, &[0]).unwrap().index,
        0,
        "tried, and the only one"
    );
    group[0].state.failed(Health::Down, &c.routing);
    tokio::time::advance(Duration::from_secs(3)).await;
    let Err(Unavailable { retry_after }) = pick(group, Strategy::SimpleShuffle, &[]) else {
        panic!("cooling down")
    };
    assert!((6_990..=7_010).contains(&retry_after.as_millis()), "{retry_after:?}");
}
