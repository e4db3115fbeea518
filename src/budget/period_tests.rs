//! Periods: parsing, calendar boundaries, month lengths, leap years, time zones and DST.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::*;

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap()
}

/// Unix seconds of a local wall-clock time (`2024-02-29T13:00:00`).
fn at(zone: &TimeZone, local: &str) -> i64 {
    let civil: DateTime = local.parse().unwrap();
    civil.to_zoned_datetime(zone.clone()).unwrap().timestamp().as_second()
}

/// A window as local wall-clock times with offsets, for readable asserts.
fn shown(zone: &TimeZone, w: Window) -> (String, String) {
    let show = |s: i64| {
        let z = Timestamp::from_second(s).unwrap().to_zoned_datetime(zone.clone());
        format!("{} {}", z.datetime(), z.offset())
    };
    (show(w.start), show(w.end))
}

fn window(text: &str, zone: &TimeZone, local: &str) -> (String, String) {
    let period = Period::parse(text).unwrap();
    shown(zone, period.window(at(zone, local), zone).unwrap())
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[test]
fn parses_litellm_durations_and_calendar_months() {
    assert_eq!(Period::parse("30s"), Ok(Period::WithinDay(30)));
    assert_eq!(Period::parse("15m"), Ok(Period::WithinDay(900)));
    assert_eq!(Period::parse("1h"), Ok(Period::WithinDay(3600)));
    assert_eq!(Period::parse("24h"), Ok(Period::WithinDay(86_400)));
    assert_eq!(Period::parse("1d"), Ok(Period::Days(1)));
    assert_eq!(Period::parse("10d"), Ok(Period::Days(10)));
    assert_eq!(Period::parse("7d"), Ok(Period::Weeks(1)));
    assert_eq!(Period::parse("1w"), Ok(Period::Weeks(1)));
    assert_eq!(Period::parse("2w"), Ok(Period::Weeks(2)));
    // LiteLLM resets `30d` on the 1st of the month.
    assert_eq!(Period::parse("30d"), Ok(Period::Months(1)));
    assert_eq!(Period::parse("1mo"), Ok(Period::Months(1)));
    assert_eq!(Period::parse("3mo"), Ok(Period::Months(3)));
    assert_eq!(Period::parse("12mo"), Ok(Period::Months(12)));
}

#[test]
fn rejects_what_is_not_a_period() {
    for (text, says) in [
        ("", "not a period"),
        ("d", "not a period"),
        ("-1d", "not a period"),
        ("1.5h", "unknown unit"),
        ("0d", "empty period"),
        ("5x", "unknown unit"),
        ("1y", "unknown unit"),
        ("1 month", "unknown unit"),
        ("25h", "longer than a day"),
        ("1441m", "longer than a day"),
        ("5mo", "divide a year"),
        ("99999d", "ten years"),
        ("99999999999d", "not a period"),
    ] {
        let err = Period::parse(text).unwrap_err();
        assert!(err.contains(says), "{text:?}: {err}");
    }
}

#[test]
fn months_have_their_own_lengths() {
    let utc = TimeZone::UTC;
    let month = |local: &str| {
        let w = Period::Months(1).window(at(&utc, local), &utc).unwrap();
        (w.end - w.start) / 86_400
    };
    assert_eq!(month("2024-02-10T12:00:00"), 29, "leap February");
    assert_eq!(month("2023-02-10T12:00:00"), 28);
    assert_eq!(month("2100-02-10T12:00:00"), 28, "a century is no leap year");
    assert_eq!(month("2000-02-10T12:00:00"), 29, "but every 400th is");
    assert_eq!(month("2024-04-30T23:59:59"), 30);
    assert_eq!(month("2024-01-31T00:00:00"), 31);
    assert_eq!(
        window("1mo", &utc, "2024-12-31T23:59:59"),
        pair("2024-12-01T00:00:00 +00", "2025-01-01T00:00:00 +00"),
        "December ends in the next year"
    );
    assert_eq!(
        window("30d", &utc, "2024-02-29T08:00:00"),
        pair("2024-02-01T00:00:00 +00", "2024-03-01T00:00:00 +00"),
    );
    assert_eq!(
        window("3mo", &utc, "2024-05-15T00:00:00"),
        pair("2024-04-01T00:00:00 +00", "2024-07-01T00:00:00 +00"),
    );
    assert_eq!(
        window("12mo", &utc, "2024-05-15T00:00:00"),
        pair("2024-01-01T00:00:00 +00", "2025-01-01T00:00:00 +00"),
    );
}

#[test]
fn the_month_is_the_configured_zones_month() {
    let berlin = tz("Europe/Berlin");
    // 23:30 on 31 March in Berlin is still March there, April in UTC+ zones east of it.
    assert_eq!(
        window("1mo", &berlin, "2024-03-31T23:30:00"),
        pair("2024-03-01T00:00:00 +01", "2024-04-01T00:00:00 +02")
    );
    // The same instant in UTC is 21:30, March too; one in Tokyo is April.
    let instant = at(&berlin, "2024-03-31T23:30:00");
    let tokyo = tz("Asia/Tokyo");
    let w = Period::Months(1).window(instant, &tokyo).unwrap();
    assert_eq!(
        shown(&tokyo, w),
        pair("2024-04-01T00:00:00 +09", "2024-05-01T00:00:00 +09")
    );
    // A March with a spring-forward is one hour short of 31 days.
    let march = Period::Months(1).window(instant, &berlin).unwrap();
    assert_eq!(march.end - march.start, 31 * 86_400 - 3600);
}

#[test]
fn days_follow_local_midnight_through_dst() {
    let berlin = tz("Europe/Berlin");
    let day = |local: &str| {
        let w = Period::Days(1).window(at(&berlin, local), &berlin).unwrap();
        w.end - w.start
    };
    assert_eq!(day("2024-03-31T12:00:00"), 23 * 3600, "spring forward");
    assert_eq!(day("2024-10-27T12:00:00"), 25 * 3600, "fall back");
    assert_eq!(day("2024-06-01T12:00:00"), 24 * 3600);
    let new_york = tz("America/New_York");
    assert_eq!(
        window("1d", &new_york, "2024-11-03T01:30:00"),
        pair("2024-11-03T00:00:00 -04", "2024-11-04T00:00:00 -05")
    );
}

#[test]
fn a_day_starts_after_a_gap_at_midnight() {
    // São Paulo skipped from 00:00 to 01:00 on 2018-11-04.
    let sao_paulo = tz("America/Sao_Paulo");
    assert_eq!(
        window("1d", &sao_paulo, "2018-11-04T12:00:00"),
        pair("2018-11-04T01:00:00 -02", "2018-11-05T00:00:00 -02")
    );
}

#[test]
fn hours_count_from_local_midnight() {
    let berlin = tz("Europe/Berlin");
    assert_eq!(
        window("1h", &berlin, "2024-06-01T13:45:10"),
        pair("2024-06-01T13:00:00 +02", "2024-06-01T14:00:00 +02")
    );
    assert_eq!(
        window("6h", &berlin, "2024-06-01T13:45:10"),
        pair("2024-06-01T12:00:00 +02", "2024-06-01T18:00:00 +02")
    );
    // The last window of a day is cut at midnight when 5 h does not divide it.
    assert_eq!(
        window("5h", &berlin, "2024-06-01T22:00:00"),
        pair("2024-06-01T20:00:00 +02", "2024-06-02T00:00:00 +02")
    );
    // On the spring-forward day hours stay on the hour; a 6 h window after
    // the switch ends an hour later on the wall clock.
    assert_eq!(
        window("1h", &berlin, "2024-03-31T03:30:00"),
        pair("2024-03-31T03:00:00 +02", "2024-03-31T04:00:00 +02")
    );
    assert_eq!(
        window("6h", &berlin, "2024-03-31T05:00:00"),
        pair("2024-03-31T00:00:00 +01", "2024-03-31T07:00:00 +02")
    );
    // India's half-hour offset: hours still start on the local hour.
    let kolkata = tz("Asia/Kolkata");
    assert_eq!(
        window("1h", &kolkata, "2024-06-01T10:40:00"),
        pair("2024-06-01T10:00:00 +05:30", "2024-06-01T11:00:00 +05:30")
    );
    let utc = TimeZone::UTC;
    assert_eq!(
        window("30s", &utc, "2024-06-01T10:40:45"),
        pair("2024-06-01T10:40:30 +00", "2024-06-01T10:41:00 +00")
    );
}

#[test]
fn the_repeated_hour_of_a_fall_back_is_two_hour_windows_apart() {
    let berlin = tz("Europe/Berlin");
    // 02:30 happens twice on 2024-10-27; both readings are in their own hour window.
    let first = at(&berlin, "2024-10-27T02:30:00"); // +02, the earlier reading
    let second = first + 3600; // the same wall time at +01
    let a = Period::WithinDay(3600).window(first, &berlin).unwrap();
    let b = Period::WithinDay(3600).window(second, &berlin).unwrap();
    assert_eq!(a.end, b.start);
    assert_eq!(
        shown(&berlin, b),
        pair("2024-10-27T02:00:00 +01", "2024-10-27T03:00:00 +01")
    );
}

#[test]
fn weeks_start_on_monday() {
    let utc = TimeZone::UTC;
    // 2024-03-06 is a Wednesday.
    assert_eq!(
        window("7d", &utc, "2024-03-06T10:00:00"),
        pair("2024-03-04T00:00:00 +00", "2024-03-11T00:00:00 +00")
    );
    assert_eq!(
        window("1w", &utc, "2024-03-04T00:00:00"),
        pair("2024-03-04T00:00:00 +00", "2024-03-11T00:00:00 +00")
    );
    let (start, _) = window("2w", &utc, "2024-03-06T10:00:00");
    assert!(
        start.starts_with("2024-03-04") || start.starts_with("2024-02-26"),
        "{start}"
    );
}

#[test]
fn windows_hold_the_instant_and_tile_time() {
    let zones = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
    ];
    let periods = ["30s", "7m", "1h", "5h", "1d", "3d", "7d", "2w", "30d", "1mo", "3mo"];
    for zone in zones.map(tz) {
        for period in periods.map(|p| Period::parse(p).unwrap()) {
            // Every 7 h 13 min through 2024 (every hour of the day in turn), across both DST switches.
            let mut now = at(&zone, "2024-01-01T00:00:00");
            while now < at(&zone, "2025-01-01T00:00:00") {
                let w = period.window(now, &zone).unwrap();
                assert!(w.contains(now), "{period:?} in {zone:?} at {now}: {w:?}");
                let next = period.window(w.end, &zone).unwrap();
                assert_eq!(next.start, w.end, "{period:?} in {zone:?}: windows meet");
                now += 433 * 60;
            }
        }
    }
}

#[test]
fn day_numbers_round_trip() {
    assert_eq!(day_number(Date::new(1970, 1, 1).unwrap()), 0);
    assert_eq!(day_number(Date::new(2000, 3, 1).unwrap()), 11_017);
    assert_eq!(day_number(Date::new(1969, 12, 31).unwrap()), -1);
    for days in (-800_000..800_000).step_by(997) {
        let date = date_of(days).unwrap();
        assert_eq!(day_number(date), days, "{date}");
    }
}
