//! Times from JSON: timestamps (ISO-8601 text, or epoch numbers in the pipeline's
//! `epoch_unit`), dates over Cassandra's whole range (`-5877641-06-23` to `5881580-07-11`,
//! beyond what chrono holds), times of day, and durations in ISO-8601 (`P1DT2H`, `P2W`)
//! or Cassandra's own form (`1h30m`, `12mo3d`, `-2d`).

use super::numbers::whole;
use super::{parse_timestamp, shown, Field};
use crate::config::EpochUnit;
use chrono::{Datelike, Timelike};
use scylla::value::{CqlDate, CqlDuration, CqlTime, CqlTimestamp};
use serde_json::Value;

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// Epoch days of CqlDate's zero (2^31 days before 1970-01-01).
const DATE_ZERO: i64 = 1 << 31;

pub(super) fn timestamp(v: Field<'_>, unit: EpochUnit) -> Result<CqlTimestamp, String> {
    let millis = match v {
        Field::Time(t) => t.timestamp_millis(),
        Field::Json(Value::Number(n)) => epoch(n.as_i64(), n.as_f64(), unit, &n.to_string())?,
        Field::Text(s) => match iso_timestamp(s.trim()) {
            Some(millis) => millis,
            None => {
                let t = s.trim();
                match (t.parse::<i64>().ok(), t.parse::<f64>().ok()) {
                    (None, None) => {
                        return Err(format!(
                            "{} is not an ISO-8601 timestamp (like \"2024-05-01T12:00:00Z\") \
                             or a number of {}",
                            shown(&Value::String(s.to_string())),
                            unit_name(unit)
                        ))
                    }
                    (i, f) => epoch(i, f, unit, t)?,
                }
            }
        },
        Field::Json(other) => {
            return Err(format!(
                "{} is not an ISO-8601 timestamp or a number of {}",
                shown(other),
                unit_name(unit)
            ))
        }
        Field::Uuid(u) => return Err(format!("{u} is not a timestamp")),
        Field::Int(n) => epoch(Some(n), Some(n as f64), unit, &n.to_string())?,
    };
    Ok(CqlTimestamp(millis))
}

/// Epoch milliseconds of ISO-8601 text (see [`iso_micros`]).
fn iso_timestamp(s: &str) -> Option<i64> {
    iso_micros(s).map(|micros| micros.div_euclid(1000))
}

/// Epoch microseconds of ISO-8601 text: RFC 3339, without a zone (UTC), with a `+0000`
/// offset as CQL writes it, or a bare date (its midnight, UTC). The one reading of time
/// text for columns and for a record's write time (`columns.__timestamp`).
pub(in crate::stream) fn iso_micros(s: &str) -> Option<i64> {
    if let Some(t) = parse_timestamp(s) {
        return Some(t.timestamp_micros());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(s, format) {
            return Some(t.timestamp_micros());
        }
    }
    parse_date(s).and_then(|days| days.checked_mul(86_400_000_000))
}

fn unit_name(unit: EpochUnit) -> &'static str {
    match unit {
        EpochUnit::Seconds => "seconds",
        EpochUnit::Milliseconds => "milliseconds",
        EpochUnit::Microseconds => "microseconds",
        EpochUnit::Nanoseconds => "nanoseconds",
    }
}

/// Epoch milliseconds of a number of `unit`s (whole, or a double when it has a fraction).
fn epoch(int: Option<i64>, float: Option<f64>, unit: EpochUnit, text: &str) -> Result<i64, String> {
    let out_of_range = || format!("{text} {} is out of a timestamp's range", unit_name(unit));
    if let Some(n) = int {
        return match unit {
            EpochUnit::Seconds => n.checked_mul(1000).ok_or_else(out_of_range),
            EpochUnit::Milliseconds => Ok(n),
            EpochUnit::Microseconds => Ok(n.div_euclid(1000)),
            EpochUnit::Nanoseconds => Ok(n.div_euclid(1_000_000)),
        };
    }
    let f = float.filter(|f| f.is_finite()).ok_or_else(out_of_range)?;
    let millis = match unit {
        EpochUnit::Seconds => f * 1e3,
        EpochUnit::Milliseconds => f,
        EpochUnit::Microseconds => f / 1e3,
        EpochUnit::Nanoseconds => f / 1e6,
    }
    .floor();
    if millis < i64::MIN as f64 || millis >= i64::MAX as f64 {
        return Err(out_of_range());
    }
    Ok(millis as i64)
}

/// A date: `YYYY-MM-DD` (any year Cassandra has, signed), a timestamp's UTC date, or a
/// number of days since 1970-01-01.
pub(super) fn date(v: Field<'_>) -> Result<CqlDate, String> {
    let days = match v {
        Field::Time(t) => days_from_civil(t.year().into(), t.month(), t.day()),
        Field::Json(Value::Number(_)) => whole(v, -DATE_ZERO, DATE_ZERO - 1)?,
        Field::Text(s) => match parse_date(s.trim()) {
            Some(days) => days,
            None => match parse_timestamp(s.trim()) {
                Some(t) => days_from_civil(t.year().into(), t.month(), t.day()),
                None => {
                    return Err(format!(
                        "{} is not a date like \"2024-05-01\"",
                        shown(&Value::String(s.to_string()))
                    ))
                }
            },
        },
        other => {
            return Err(format!(
                "{} is not a date like \"2024-05-01\"",
                shown_field(other)
            ))
        }
    };
    let raw = days + DATE_ZERO;
    u32::try_from(raw).map(CqlDate).map_err(|_| {
        "the date is outside Cassandra's range (-5877641-06-23 to 5881580-07-11)".into()
    })
}

fn shown_field(v: Field<'_>) -> String {
    match v {
        Field::Json(j) => shown(j),
        other => shown(&Value::String(super::text_of(other).into_owned())),
    }
}

/// Days since 1970-01-01 of `[+-]Y-MM-DD` (proleptic Gregorian, year 0 = 1 BC).
fn parse_date(s: &str) -> Option<i64> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut parts = rest.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |p: &str, min: usize, max: usize| {
        (min..=max).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(y, 1, 7) || !digits(m, 2, 2) || !digits(d, 2, 2) {
        return None;
    }
    let year: i64 = y.parse().ok()?;
    let year = if negative { -year } else { year };
    let (month, day): (u32, u32) = (m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A time of day: `HH:MM:SS[.fffffffff]`, a timestamp's UTC time, or nanoseconds since
/// midnight.
pub(super) fn time(v: Field<'_>) -> Result<CqlTime, String> {
    let nanos = match v {
        Field::Time(t) => {
            i64::from(t.num_seconds_from_midnight()) * 1_000_000_000
                + i64::from(t.nanosecond() % 1_000_000_000)
        }
        Field::Json(Value::Number(_)) => whole(v, 0, NANOS_PER_DAY - 1)?,
        Field::Text(s) => parse_time(s.trim()).ok_or_else(|| {
            format!(
                "{} is not a time like \"13:45:00\" or \"13:45:00.123456789\"",
                shown(&Value::String(s.to_string()))
            )
        })?,
        other => {
            return Err(format!(
                "{} is not a time like \"13:45:00\"",
                shown_field(other)
            ))
        }
    };
    Ok(CqlTime(nanos))
}

fn parse_time(s: &str) -> Option<i64> {
    let (hms, fraction) = match s.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (s, None),
    };
    let mut parts = hms.split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let field = |p: &str, max: i64| -> Option<i64> {
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok().filter(|n| *n <= max)
    };
    let (h, m, sec) = (field(h, 23)?, field(m, 59)?, field(sec, 59)?);
    let nanos = match fraction {
        None => 0,
        Some(f) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            f.parse::<i64>().ok()? * 10i64.pow(9 - f.len() as u32)
        }
        Some(_) => return None,
    };
    Some(((h * 60 + m) * 60 + sec) * 1_000_000_000 + nanos)
}

/// A duration as ISO-8601 (`P1Y2M3DT4H5M6.5S`, `P2W`) or as Cassandra writes it
/// (`1y2mo3w4d5h6m7s8ms9us10ns`), optionally negative (`-P1D`, `-2h`).
pub(super) fn duration(v: Field<'_>) -> Result<CqlDuration, String> {
    let text = match v {
        Field::Text(s) => s.trim(),
        other => {
            return Err(format!(
                "{} is not a duration like \"1h30m\" or \"P1DT2H\"",
                shown_field(other)
            ))
        }
    };
    parse_duration(text).ok_or_else(|| {
        format!(
            "{} is not a duration like \"1h30m\", \"12mo3d\" or \"P1DT2H\" (or it overflows)",
            shown(&Value::String(text.to_string()))
        )
    })
}

/// Months, days and nanoseconds, added up with overflow checks.
#[derive(Default)]
struct Sum {
    months: i64,
    days: i64,
    nanos: i64,
}

impl Sum {
    fn add(&mut self, n: i64, unit: &str) -> Option<()> {
        let (slot, factor) = match unit {
            "y" => (&mut self.months, 12),
            "mo" => (&mut self.months, 1),
            "w" => (&mut self.days, 7),
            "d" => (&mut self.days, 1),
            "h" => (&mut self.nanos, 3_600_000_000_000),
            "m" => (&mut self.nanos, 60_000_000_000),
            "s" => (&mut self.nanos, 1_000_000_000),
            "ms" => (&mut self.nanos, 1_000_000),
            "us" | "µs" => (&mut self.nanos, 1_000),
            "ns" => (&mut self.nanos, 1),
            _ => return None,
        };
        *slot = slot.checked_add(n.checked_mul(factor)?)?;
        Some(())
    }

    fn into_duration(self, negative: bool) -> Option<CqlDuration> {
        let sign = if negative { -1 } else { 1 };
        Some(CqlDuration {
            months: i32::try_from(self.months * sign).ok()?,
            days: i32::try_from(self.days * sign).ok()?,
            nanoseconds: self.nanos.checked_mul(sign)?,
        })
    }
}

fn parse_duration(s: &str) -> Option<CqlDuration> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut sum = Sum::default();
    if let Some(iso) = rest.strip_prefix(['P', 'p']) {
        parse_iso(iso, &mut sum)?;
    } else {
        let lower = rest.to_lowercase();
        let mut rest = lower.as_str();
        if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit_len = rest[digits..]
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len() - digits);
            if digits == 0 || unit_len == 0 {
                return None;
            }
            let n: i64 = rest[..digits].parse().ok()?;
            sum.add(n, &rest[digits..digits + unit_len])?;
            rest = &rest[digits + unit_len..];
        }
    }
    sum.into_duration(negative)
}

/// The part after `P`: `[nY][nM][nW][nD][T[nH][nM][n[.f]S]]`, at least one.
fn parse_iso(iso: &str, sum: &mut Sum) -> Option<()> {
    let upper = iso.to_ascii_uppercase();
    let (date, time) = match upper.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d.to_string(), Some(t.to_string())),
        Some(_) => return None,
        None => (upper.clone(), None),
    };
    let mut any = false;
    let mut read = |part: &str, units: &[(char, &str)]| -> Option<()> {
        let mut rest = part;
        let mut allowed = units;
        while !rest.is_empty() {
            let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
            let (number, tail) = rest.split_at(end);
            let designator = tail.chars().next()?;
            let at = allowed.iter().position(|(c, _)| *c == designator)?;
            let unit = allowed[at].1;
            allowed = &allowed[at + 1..];
            if number.is_empty() {
                return None;
            }
            match number.split_once('.') {
                None => sum.add(number.parse().ok()?, unit)?,
                // Only seconds may have a fraction (up to nanoseconds).
                Some((whole, f))
                    if unit == "s" && (1..=9).contains(&f.len()) && !whole.is_empty() =>
                {
                    if !f.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    sum.add(whole.parse().ok()?, "s")?;
                    let nanos = f.parse::<i64>().ok()? * 10i64.pow(9 - f.len() as u32);
                    sum.add(nanos, "ns")?;
                }
                Some(_) => return None,
            }
            any = true;
            rest = &tail[1..];
        }
        Some(())
    };
    read(&date, &[('Y', "y"), ('M', "mo"), ('W', "w"), ('D', "d")])?;
    if let Some(time) = time {
        read(&time, &[('H', "h"), ('M', "m"), ('S', "s")])?;
    }
    any.then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_over_cassandras_whole_range() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("-5877641-06-23"), Some(-(1 << 31)));
        assert_eq!(parse_date("5881580-07-11"), Some((1 << 31) - 1));
        assert_eq!(date(Field::Text("-5877641-06-23")), Ok(CqlDate(0)));
        assert_eq!(date(Field::Text("5881580-07-11")), Ok(CqlDate(u32::MAX)));
        assert!(date(Field::Text("5881580-07-12")).is_err());
        assert!(date(Field::Text("-5877641-06-22")).is_err());
        for bad in [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "24-01-01x",
            "",
            "today",
        ] {
            assert!(date(Field::Text(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            date(Field::Text("2024-02-29")).map(|d| d.0 as i64 - DATE_ZERO),
            Ok(19_782)
        );
        assert_eq!(date(Field::Json(&json!(-1))), Ok(CqlDate((1 << 31) - 1)));
        assert!(date(Field::Json(&json!(1i64 << 31))).is_err());
        assert_eq!(
            date(Field::Text("2024-05-01T23:59:59Z")),
            date(Field::Text("2024-05-01"))
        );
    }

    #[test]
    fn timestamps_from_text_and_epoch_numbers() {
        let ms = |v: Value, unit| timestamp(Field::Json(&v), unit).map(|t| t.0);
        assert_eq!(
            ms(json!(1_700_000_000), EpochUnit::Seconds),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            ms(json!(1_700_000_000_123i64), EpochUnit::Milliseconds),
            Ok(1_700_000_000_123)
        );
        assert_eq!(
            ms(json!(1_700_000_000_123_456i64), EpochUnit::Microseconds),
            Ok(1_700_000_000_123)
        );
        assert_eq!(ms(json!(-1), EpochUnit::Microseconds), Ok(-1));
        assert_eq!(ms(json!(1.5), EpochUnit::Seconds), Ok(1_500));
        assert!(ms(json!(i64::MAX), EpochUnit::Seconds).is_err());
        let t = |s: &str| timestamp(Field::Text(s), EpochUnit::Seconds).map(|t| t.0);
        assert_eq!(t("1970-01-01T00:00:01Z"), Ok(1000));
        assert_eq!(t("2"), Ok(2000));
        assert_eq!(t("1970-01-02"), Ok(86_400_000));
        assert_eq!(t("1970-01-01 01:00:00+0100"), Ok(0));
        assert_eq!(t("1970-01-01T00:00:01.5+0000"), Ok(1500));
        let err = t("soon").unwrap_err();
        assert!(err.contains("ISO-8601") && err.contains("seconds"), "{err}");
    }

    #[test]
    fn times_of_day() {
        let t = |s: &str| time(Field::Text(s)).map(|t| t.0);
        assert_eq!(t("00:00:00"), Ok(0));
        assert_eq!(t("23:59:59.999999999"), Ok(NANOS_PER_DAY - 1));
        assert_eq!(t("01:02:03.5"), Ok(3_723_500_000_000));
        for bad in [
            "24:00:00",
            "12:60:00",
            "12:00",
            "12:00:00.",
            "12:00:00.1234567890",
            "x",
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
        assert_eq!(time(Field::Json(&json!(5))), Ok(CqlTime(5)));
        assert!(time(Field::Json(&json!(NANOS_PER_DAY))).is_err());
    }

    #[test]
    fn durations_in_both_spellings() {
        let d = |s: &str| parse_duration(s).map(|d| (d.months, d.days, d.nanoseconds));
        let h = 3_600_000_000_000;
        assert_eq!(d("P1DT2H"), Some((0, 1, 2 * h)));
        assert_eq!(
            d("P1Y2M3DT4H5M6.5S"),
            Some((14, 3, 4 * h + 5 * 60_000_000_000 + 6_500_000_000))
        );
        assert_eq!(d("P2W"), Some((0, 14, 0)));
        assert_eq!(d("-P1D"), Some((0, -1, 0)));
        assert_eq!(d("1h30m"), Some((0, 0, h + 30 * 60_000_000_000)));
        assert_eq!(d("12mo3d"), Some((12, 3, 0)));
        assert_eq!(d("1y2mo3w4d5h6m7s8ms9us10ns").map(|x| x.1), Some(25));
        assert_eq!(d("-2d"), Some((0, -2, 0)));
        assert_eq!(d("5µs"), Some((0, 0, 5_000)));
        for bad in [
            "",
            "P",
            "PT",
            "1x",
            "h",
            "P1H",
            "PT1D",
            "P1D2Y",
            "1.5h",
            "P1.5D",
            "-",
            "99999999999y",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
        assert!(duration(Field::Json(&json!(5))).is_err());
    }
}
