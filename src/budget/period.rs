//! Budget periods (`30s`, `1h`, `1d`, `7d`, `30d`, `1mo`, ...) and the fixed window each puts around an instant, in a time zone.
//!
//! Every replica must find the same window from the clock alone, so windows
//! are fixed, never "from the first spend". They follow LiteLLM's budget
//! reset (`get_next_standardized_reset_time` in
//! `litellm_core_utils/duration_parser.py`, applied to keys, teams and the
//! proxy-wide `max_budget` in `litellm_settings.timezone`, UTC by default):
//!
//! - `1d`: from local midnight to the next; `7d` (and `1w`): from Monday
//!   midnight; `30d` and `1mo`: the calendar month from the 1st at midnight
//!   (LiteLLM resets `30d` on the 1st of the month too).
//! - Other `Nd` / `Nw`: runs of N local days (weeks from a Monday) counted
//!   from 1970-01-01. LiteLLM counts them from whenever its reset job last
//!   ran, which no stateless replica can know.
//! - `Ns`, `Nm`, `Nh` (at most a day): multiples of the length counted from
//!   local midnight, the last one cut short at the next midnight. Where N
//!   divides the minute, hour or day (`30s`, `15m`, `1h`, `6h`) this is
//!   LiteLLM's alignment; elsewhere LiteLLM lets the last window spill past
//!   the boundary. The length is elapsed time, so on a DST day the windows
//!   after the switch move with it (a `6h` window ends at 07:00, not 06:00).
//! - `Nmo` with N dividing 12 (`1mo`, `3mo`, `12mo`): calendar months from January.
//!
//! LiteLLM's provider and deployment budgets (`provider_budget_config`,
//! Redis) instead start a window at the first spend; tollgate gives them the
//! fixed windows above, as its only way to agree across replicas.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// How a budget's spend is reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// Multiples of this many seconds from local midnight (`s`, `m`, `h`).
    WithinDay(u32),
    /// Runs of this many local days, counted from 1970-01-01.
    Days(u32),
    /// Runs of this many weeks, Monday to Monday.
    Weeks(u32),
    /// Runs of this many calendar months (dividing 12), from January.
    Months(u32),
}

/// One period's span: `[start, end)` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first second of the period.
    pub start: i64,
    /// The first second of the next period: when the budget resets.
    pub end: i64,
}

impl Window {
    /// Whether `now` (Unix seconds) falls in this window.
    pub fn contains(&self, now: i64) -> bool {
        self.start <= now && now < self.end
    }
}

const DAY: u32 = 86_400;
/// 1970-01-05, the first Monday of the Unix epoch, as a day number.
const FIRST_MONDAY: i64 = 4;

impl Period {
    /// Parses LiteLLM's duration syntax: digits, then `s`, `m`, `h`, `d`,
    /// `w` or `mo` (`30s`, `1h`, `1d`, `7d`, `30d`, `1mo`).
    pub fn parse(text: &str) -> Result<Period, String> {
        let text = text.trim();
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = text.split_at(digits);
        let n: u32 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a period (write e.g. `1h`, `1d`, `7d`, `30d` or `1mo`)"))?;
        if n == 0 {
            return Err(format!("`{text}` is an empty period"));
        }
        let within_day = |unit_seconds: u32| match n.checked_mul(unit_seconds) {
            Some(seconds) if seconds <= DAY => Ok(Period::WithinDay(seconds)),
            _ => Err(format!("`{text}` is longer than a day: write it in days (`d`)")),
        };
        match unit {
            "s" => within_day(1),
            "m" => within_day(60),
            "h" => within_day(3600),
            "d" if n == 30 => Ok(Period::Months(1)),
            "d" if n == 7 => Ok(Period::Weeks(1)),
            "d" if n <= 3660 => Ok(Period::Days(n)),
            "w" if n <= 520 => Ok(Period::Weeks(n)),
            "mo" if 12 % n == 0 => Ok(Period::Months(n)),
            "mo" => Err(format!("`{text}`: months must divide a year (1, 2, 3, 4, 6 or 12)")),
            "d" | "w" => Err(format!("`{text}` is longer than ten years")),
            _ => Err(format!(
                "`{text}` has an unknown unit (use s, m, h, d, w or mo, e.g. `1d` or `1mo`)"
            )),
        }
    }

    /// The window holding `now` (Unix seconds) in `tz`, or `None` at the
    /// edges of the representable calendar.
    pub fn window(self, now: i64, tz: &TimeZone) -> Option<Window> {
        let today = tz.to_datetime(Timestamp::from_second(now).ok()?).date();
        let (first, next) = match self {
            Period::WithinDay(seconds) => {
                let midnight = day_start(today, tz)?;
                let tomorrow = day_start(today.tomorrow().ok()?, tz)?;
                let k = (now - midnight).div_euclid(i64::from(seconds));
                let start = midnight + k * i64::from(seconds);
                return Some(Window {
                    start,
                    end: (start + i64::from(seconds)).min(tomorrow),
                });
            }
            Period::Days(n) => {
                let first = day_number(today).div_euclid(i64::from(n)) * i64::from(n);
                (first, first + i64::from(n))
            }
            Period::Weeks(n) => {
                let length = 7 * i64::from(n);
                let first = (day_number(today) - FIRST_MONDAY).div_euclid(length) * length + FIRST_MONDAY;
                (first, first + length)
            }
            Period::Months(n) => {
                let month = i64::from(today.year()) * 12 + i64::from(today.month()) - 1;
                let first = month.div_euclid(i64::from(n)) * i64::from(n);
                return Some(Window {
                    start: day_start(month_first(first)?, tz)?,
                    end: day_start(month_first(first + i64::from(n))?, tz)?,
                });
            }
        };
        Some(Window {
            start: day_start(date_of(first)?, tz)?,
            end: day_start(date_of(next)?, tz)?,
        })
    }
}

/// The instant a local day starts (midnight, or the first instant after a
/// gap where midnight does not exist), in Unix seconds.
fn day_start(date: Date, tz: &TimeZone) -> Option<i64> {
    Some(date.to_zoned_datetime(tz.clone()).ok()?.timestamp().as_second())
}

/// The 1st of month number `month` (`year * 12 + month - 1`).
fn month_first(month: i64) -> Option<Date> {
    let year = i16::try_from(month.div_euclid(12)).ok()?;
    let month = i8::try_from(month.rem_euclid(12) + 1).ok()?;
    Date::new(year, month, 1).ok()
}

/// Days since 1970-01-01 of a civil date (the proleptic Gregorian calendar).
pub(super) fn day_number(date: Date) -> i64 {
    let (y, m, d) = (i64::from(date.year()), i64::from(date.month()), i64::from(date.day()));
    // Years start in March, so the leap day ends a year (H. Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day number (the inverse of [`day_number`]).
fn date_of(days: i64) -> Option<Date> {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()
}

#[cfg(test)]
#[path = "period_tests.rs"]
mod tests;
