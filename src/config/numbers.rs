//! Bounds on every number a config holds, checked at load: a running config
//! never carries a duration that overflows a clock or a size that overflows
//! a buffer, and a refused value is named by its key, never echoed.

use serde_json::{Map, Value};

use super::build::{kind, Report};

/// The longest duration any key accepts (timeouts, cooldowns, the stream
/// idle limit, the export interval): 30 days. Far beyond any sane setting,
/// and far below the ~292 years at which a clock reading plus it overflows.
pub const MAX_SECONDS: f64 = 30.0 * 24.0 * 3600.0;

/// The shortest duration any key accepts: 1 ms. Shorter rounds to nothing
/// and fires before any work could be done.
pub const MIN_SECONDS: f64 = 0.001;

/// What one numeric key may hold.
#[derive(Debug, Clone, Copy)]
pub(super) enum Bound {
    /// A whole number from 0 to this.
    Count(u64),
    /// A number above 0 (from 0 when `zero`) up to `max`.
    Real { zero: bool, max: f64 },
}

/// `general_settings`: the largest body is 1 GiB; bodies are held in memory.
pub(super) const GENERAL: &[(&str, Bound)] = &[(
    "max_request_size_mb",
    Bound::Real {
        zero: false,
        max: 1024.0,
    },
)];

/// Retries and fallbacks above 100 only multiply one request's cost.
const RETRIES: Bound = Bound::Count(100);

/// `router_settings` and `litellm_settings`.
pub(super) const ROUTING: &[(&str, Bound)] = &[
    ("num_retries", RETRIES),
    ("max_fallbacks", RETRIES),
    ("retry_policy.*", RETRIES),
    ("allowed_fails", Bound::Count(1_000_000)),
];

/// `tollgate`: a rate of a million units per dollar covers every currency.
pub(super) const TOLLGATE: &[(&str, Bound)] = &[("spend.per_usd", Bound::Real { zero: false, max: 1e6 })];

/// A price per token above 1 USD is a price per thousand or million tokens
/// written in the wrong key.
const PRICE: Bound = Bound::Real { zero: true, max: 1.0 };

/// A model_list entry's `litellm_params`.
pub(super) const LITELLM_PARAMS: &[(&str, Bound)] = &[
    ("rpm", Bound::Count(1_000_000_000_000)),
    ("tpm", Bound::Count(1_000_000_000_000)),
    ("weight", Bound::Real { zero: false, max: 1e6 }),
    ("order", Bound::Count(1_000_000)),
    ("input_cost_per_token", PRICE),
    ("output_cost_per_token", PRICE),
    ("cache_read_input_token_cost", PRICE),
    ("cache_creation_input_token_cost", PRICE),
    ("output_cost_per_reasoning_token", PRICE),
];

/// Checks each key of `rules` present in `map` (`a.b` descends into
/// mappings, `a.*` covers every key of `a`). A value out of bounds is
/// reported at `{prefix}{key}` and removed, so it is reported once.
pub(super) fn check(map: &mut Map<String, Value>, rules: &[(&str, Bound)], prefix: &str, report: &mut Report) {
    for (path, bound) in rules {
        check_path(map, path, *bound, prefix, report);
    }
}

fn check_path(map: &mut Map<String, Value>, path: &str, bound: Bound, prefix: &str, report: &mut Report) {
    if let Some((head, rest)) = path.split_once('.') {
        if let Some(Value::Object(inner)) = map.get_mut(head) {
            check_path(inner, rest, bound, &format!("{prefix}{head}."), report);
        }
        return;
    }
    let keys: Vec<String> = if path == "*" {
        map.keys().cloned().collect()
    } else {
        vec![path.to_string()]
    };
    for key in keys {
        let Some(value) = map.get(&key) else { continue };
        if let Err(message) = within(value, bound) {
            report.problem(format!("{prefix}{key}"), message);
            map.remove(&key);
        }
    }
}

/// `Ok` for an absent value (`null`) and for a number within `bound`.
fn within(value: &Value, bound: Bound) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    match bound {
        Bound::Count(max) => match value.as_u64() {
            Some(n) if n <= max => Ok(()),
            _ => Err(format!(
                "must be a whole number from 0 to {max}, found {}",
                found(value)
            )),
        },
        Bound::Real { zero, max } => {
            let low = if zero { "from 0" } else { "above 0" };
            match value.as_f64() {
                Some(n) if n.is_finite() && n <= max && (n > 0.0 || (zero && n == 0.0)) => Ok(()),
                _ => Err(format!("must be a number {low} up to {max}, found {}", found(value))),
            }
        }
    }
}

/// The kind of value found, never the value itself.
fn found(value: &Value) -> &'static str {
    match value.as_f64() {
        Some(n) if n < 0.0 => "a negative number",
        Some(_) => "a number out of range",
        None if non_finite(value) => "NaN or infinity",
        None => kind(value),
    }
}

/// The parser hands NaN, infinities and overflowing literals (`1e999`) over
/// as these strings (see `yaml::parse`).
fn non_finite(value: &Value) -> bool {
    matches!(value.as_str(), Some(".nan" | ".inf" | "-.inf"))
}

/// Seconds given as a number or a numeric string, from `MIN_SECONDS` to
/// `MAX_SECONDS`.
pub(super) fn seconds(v: &Value) -> Result<f64, String> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let range = format!("must be from {MIN_SECONDS} to {MAX_SECONDS} seconds (30 days)");
    match n {
        Some(n) if (MIN_SECONDS..=MAX_SECONDS).contains(&n) => Ok(n),
        Some(n) if n.is_nan() => Err(format!("{range}, found NaN")),
        Some(n) if n < MIN_SECONDS => Err(format!("{range}, found a smaller number")),
        Some(_) => Err(format!("{range}, found a larger number")),
        None if non_finite(v) => Err(format!("{range}, found NaN or infinity")),
        None => Err(format!("{range}, found {}", kind(v))),
    }
}

/// Optional seconds: `None` when absent, and when invalid, with a problem
/// reported at `at`.
pub(super) fn seconds_at(v: Option<&Value>, at: &str, report: &mut Report) -> Option<f64> {
    v.and_then(|v| seconds(v).map_err(|e| report.problem(at, e)).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn seconds_are_bounded_both_ways() {
        assert_eq!(seconds(&json!(2.5)), Ok(2.5));
        assert_eq!(seconds(&json!(" 30 ")), Ok(30.0));
        assert_eq!(seconds(&json!(MAX_SECONDS)), Ok(MAX_SECONDS));
        for bad in [
            json!(0),
            json!(-1),
            json!(1e20),
            json!(1e300),
            json!(MAX_SECONDS + 1.0),
            json!("NaN"),
            json!("inf"),
            json!("-inf"),
            json!("1e999"),
            json!("sk-canary"),
            json!(true),
            json!([1]),
        ] {
            let e = seconds(&bad).expect_err(&bad.to_string());
            assert!(!e.contains("canary"), "{e}");
        }
    }

    #[test]
    fn counts_and_reals_are_bounded() {
        let ok = [
            (json!(0), Bound::Count(3)),
            (json!(3), Bound::Count(3)),
            (json!(0.0), PRICE),
            (json!(1), PRICE),
        ];
        for (v, b) in ok {
            assert_eq!(within(&v, b), Ok(()), "{v}");
        }
        let bad = [
            (json!(4), Bound::Count(3)),
            (json!(-1), Bound::Count(3)),
            (json!(1.5), Bound::Count(3)),
            (json!("3"), Bound::Count(3)),
            (json!(-0.1), PRICE),
            (json!(1e300), PRICE),
            (json!(0), GENERAL[0].1),
        ];
        for (v, b) in bad {
            assert!(within(&v, b).is_err(), "{v}");
        }
    }
}
