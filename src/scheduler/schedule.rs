//! When DAG runs happen: a DAG's schedule (5-field cron, a preset, `@once`, or none) and the
//! Airflow rules that turn it into data intervals. A scheduled run covers the interval
//! `[start, end)` and may start once `end` has passed; its logical date is `start`.
//! `start_date`, `end_date` and `catchup` restrict which intervals get runs, as in Airflow's
//! `CronDataIntervalTimetable` and `OnceTimetable`. Pure functions of their inputs: the
//! current time is a parameter, never read here.

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde::Serialize;
use std::fmt;

/// A DAG's schedule.
#[derive(Clone)]
pub enum Schedule {
    /// Manual triggers only (Airflow's `schedule=None`).
    Manual,
    /// One run at `start_date` (or as soon as the DAG is seen, without one).
    Once,
    /// A cron expression or preset such as `@daily`; `text` is what the DAG file said.
    Cron { text: String, cron: Box<Cron> },
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Manual => f.write_str("None"),
            Schedule::Once => f.write_str("@once"),
            Schedule::Cron { text, .. } => f.write_str(text),
        }
    }
}

/// The presets Airflow knows, besides `@once` and `None`.
pub const PRESETS: [&str; 6] = [
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
];

impl Schedule {
    /// Parses `None`/`@none`/`""`, `@once`, a preset, or a 5-field cron expression.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let trimmed = text.trim();
        match trimmed.to_ascii_lowercase().as_str() {
            "" | "none" | "@none" | "manual" => return Ok(Schedule::Manual),
            "@once" => return Ok(Schedule::Once),
            _ => {}
        }
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with('@') && !PRESETS.contains(&lower.as_str()) {
            return Err(format!(
                "`{trimmed}` is not a preset (use one of @once, {}, or None)",
                PRESETS.join(", ")
            ));
        }
        if !lower.starts_with('@') && trimmed.split_whitespace().count() != 5 {
            return Err(format!(
                "`{trimmed}` is not a 5-field cron expression (minute hour day-of-month month day-of-week)"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(trimmed)
            .map_err(|e| format!("`{trimmed}` is not a valid cron expression: {e}"))?;
        Ok(Schedule::Cron {
            text: trimmed.to_string(),
            cron: Box::new(cron),
        })
    }
}

/// The span of data one run covers: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DataInterval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The next scheduled run: its interval and the earliest time it may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NextRun {
    pub interval: DataInterval,
    pub run_after: DateTime<Utc>,
}

impl NextRun {
    /// Airflow's logical date (`execution_date`): the start of the interval.
    pub fn logical_date(&self) -> DateTime<Utc> {
        self.interval.start
    }
}

/// What limits scheduled runs: the DAG's `start_date`, `end_date` and `catchup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restriction {
    pub earliest: Option<DateTime<Utc>>,
    pub latest: Option<DateTime<Utc>>,
    pub catchup: bool,
}

impl Schedule {
    /// The next scheduled run after the last one (its interval), or None when the schedule
    /// has no more runs. `now` matters only without catchup, which skips to the latest
    /// complete interval.
    pub fn next_run(
        &self,
        last: Option<DataInterval>,
        restriction: Restriction,
        now: DateTime<Utc>,
    ) -> Option<NextRun> {
        match self {
            Schedule::Manual => None,
            Schedule::Once => {
                if last.is_some() {
                    return None;
                }
                // Airflow runs @once at start_date whatever catchup says.
                let at = restriction.earliest.unwrap_or(now);
                if restriction.latest.is_some_and(|latest| at > latest) {
                    return None;
                }
                Some(NextRun {
                    interval: DataInterval { start: at, end: at },
                    run_after: at,
                })
            }
            Schedule::Cron { cron, .. } => {
                let start = match (last, restriction.catchup) {
                    (Some(last), true) => next(cron, last.start)?,
                    (Some(last), false) => next(cron, last.start)?.max(skip_to_latest(
                        cron,
                        restriction.earliest,
                        now,
                    )?),
                    (None, false) => skip_to_latest(cron, restriction.earliest, now)?,
                    (None, true) => align_to_next(cron, restriction.earliest?)?,
                };
                if restriction.latest.is_some_and(|latest| start > latest) {
                    return None;
                }
                let end = next(cron, start)?;
                Some(NextRun {
                    interval: DataInterval { start, end },
                    run_after: end,
                })
            }
        }
    }

    /// The interval of a run triggered by hand at `at`: the last complete interval before
    /// it for cron schedules (as Airflow infers it), `[at, at]` otherwise.
    pub fn manual_interval(&self, at: DateTime<Utc>) -> DataInterval {
        if let Schedule::Cron { cron, .. } = self {
            if let Some(end) = align_to_prev(cron, at) {
                if let Some(start) = prev(cron, end) {
                    return DataInterval { start, end };
                }
            }
        }
        DataInterval { start: at, end: at }
    }
}

fn next(cron: &Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&t, false).ok()
}

fn prev(cron: &Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_previous_occurrence(&t, false).ok()
}

fn align_to_next(cron: &Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&t, true).ok()
}

fn align_to_prev(cron: &Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_previous_occurrence(&t, true).ok()
}

/// The start of the latest interval that is complete at `now` (or that ends exactly at
/// `now`), but not before the first interval at or after `earliest`.
fn skip_to_latest(
    cron: &Cron,
    earliest: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let last_start = prev(cron, now)?;
    let next_start = next(cron, last_start)?;
    let new_start = if next_start == now {
        last_start
    } else {
        prev(cron, last_start)?
    };
    match earliest {
        None => Some(new_start),
        Some(earliest) => Some(new_start.max(align_to_next(cron, earliest)?)),
    }
}
