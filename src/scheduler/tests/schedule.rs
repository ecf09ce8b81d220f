//! Next run times for cron expressions and presets, with Airflow's start/end dates and
//! catchup rules (pure functions: the current time is a parameter).

use super::at;
use crate::scheduler::schedule::{DataInterval, NextRun, Restriction, Schedule};

fn sched(text: &str) -> Schedule {
    Schedule::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn interval(start: &str, end: &str) -> DataInterval {
    DataInterval {
        start: at(start),
        end: at(end),
    }
}

fn catchup_from(start: &str) -> Restriction {
    Restriction {
        earliest: Some(at(start)),
        latest: None,
        catchup: true,
    }
}

/// The first `n` intervals a schedule produces with catchup from `start`.
fn first_intervals(s: &Schedule, start: &str, n: usize) -> Vec<DataInterval> {
    let far = at("2100-01-01");
    let mut last = None;
    let mut out = Vec::new();
    for _ in 0..n {
        let Some(next) = s.next_run(last, catchup_from(start), far) else {
            break;
        };
        assert_eq!(
            next.run_after, next.interval.end,
            "a run fires at its interval's end"
        );
        out.push(next.interval);
        last = Some(next.interval);
    }
    out
}

#[test]
fn cron_expression_intervals() {
    let s = sched("30 3 * * 1-5");
    assert_eq!(
        first_intervals(&s, "2024-01-05T00:00:00Z", 3),
        vec![
            // Friday 03:30 to Monday 03:30, then weekdays.
            interval("2024-01-05T03:30:00Z", "2024-01-08T03:30:00Z"),
            interval("2024-01-08T03:30:00Z", "2024-01-09T03:30:00Z"),
            interval("2024-01-09T03:30:00Z", "2024-01-10T03:30:00Z"),
        ]
    );
}

#[test]
fn presets() {
    let cases = [
        ("@hourly", "2024-02-29T23:00:00Z", "2024-03-01T00:00:00Z"),
        ("@daily", "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"),
        ("@weekly", "2024-03-03T00:00:00Z", "2024-03-10T00:00:00Z"),
        ("@monthly", "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z"),
        ("@yearly", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ];
    for (preset, start, end) in cases {
        let got = first_intervals(&sched(preset), "2024-02-29T22:10:00Z", 1);
        assert_eq!(got, vec![interval(start, end)], "{preset}");
    }
}

#[test]
fn start_date_on_a_tick_is_the_first_interval_start() {
    let got = first_intervals(&sched("@daily"), "2024-01-01", 2);
    assert_eq!(
        got,
        vec![
            interval("2024-01-01", "2024-01-02"),
            interval("2024-01-02", "2024-01-03")
        ]
    );
}

#[test]
fn catchup_off_skips_to_the_latest_complete_interval() {
    let s = sched("@daily");
    let r = Restriction {
        earliest: Some(at("2023-09-03T10:00:00Z")),
        latest: None,
        catchup: false,
    };
    let now = at("2024-03-10T10:30:00Z");
    let next = s.next_run(None, r, now);
    assert_eq!(
        next,
        Some(NextRun {
            interval: interval("2024-03-09", "2024-03-10"),
            run_after: at("2024-03-10"),
        })
    );
    // After that run, the next one is tomorrow's, not a backfill.
    let after = s.next_run(next.map(|n| n.interval), r, now);
    assert_eq!(after.map(|n| n.run_after), Some(at("2024-03-11")));
    // Exactly on a boundary, the interval that just ended is the latest.
    let on_tick = s.next_run(None, r, at("2024-03-10T00:00:00Z"));
    assert_eq!(
        on_tick.map(|n| n.interval),
        Some(interval("2024-03-09", "2024-03-10"))
    );
}

#[test]
fn catchup_off_never_goes_before_start_date() {
    let s = sched("@daily");
    let r = Restriction {
        earliest: Some(at("2024-03-10T06:00:00Z")),
        latest: None,
        catchup: false,
    };
    let next = s.next_run(None, r, at("2024-03-10T10:30:00Z"));
    assert_eq!(
        next.map(|n| n.interval),
        Some(interval("2024-03-11", "2024-03-12"))
    );
}

#[test]
fn end_date_stops_the_schedule() {
    let s = sched("@daily");
    let r = Restriction {
        earliest: Some(at("2024-01-01")),
        latest: Some(at("2024-01-02T12:00:00Z")),
        catchup: true,
    };
    let far = at("2030-01-01");
    let first = s.next_run(None, r, far).map(|n| n.interval);
    let second = s.next_run(first, r, far).map(|n| n.interval);
    let third = s.next_run(second, r, far);
    assert_eq!(first, Some(interval("2024-01-01", "2024-01-02")));
    assert_eq!(second, Some(interval("2024-01-02", "2024-01-03")));
    assert_eq!(
        third, None,
        "an interval starting after end_date has no run"
    );
}

#[test]
fn once_and_manual() {
    let r = catchup_from("2024-05-01T08:00:00Z");
    let now = at("2024-06-01");
    let once = sched("@once").next_run(None, r, now);
    assert_eq!(once.map(|n| n.run_after), Some(at("2024-05-01T08:00:00Z")));
    assert_eq!(
        sched("@once").next_run(once.map(|n| n.interval), r, now),
        None
    );
    for manual in ["None", "none", ""] {
        assert_eq!(sched(manual), Schedule::Manual);
        assert_eq!(sched(manual).next_run(None, r, now), None);
    }
}

#[test]
fn manual_runs_cover_the_last_complete_interval() {
    let s = sched("@daily");
    assert_eq!(
        s.manual_interval(at("2024-03-25T01:00:00Z")),
        interval("2024-03-24", "2024-03-25")
    );
    let t = at("2024-03-25T01:00:00Z");
    assert_eq!(
        Schedule::Manual.manual_interval(t),
        DataInterval { start: t, end: t }
    );
}

#[test]
fn bad_schedules_are_rejected() {
    for bad in [
        "61 * * * *",
        "* * * *",
        "0 0 * * * *",
        "@reboot",
        "every day",
    ] {
        assert!(Schedule::parse(bad).is_err(), "{bad} should be rejected");
    }
}
