//! The engine with a manual clock: runs created by schedules (catchup on/off, start and end
//! dates, pause), retries after their delay, upstream_failed and skipped propagation,
//! execution timeouts, max_active_runs, and manual triggers with conf.

use super::{harness, Step};
use crate::scheduler::{RunState, TaskState};

const DAILY_CATCHUP: &str = r#"
schedule = "@daily"
start_date = 2024-01-01
catchup = true
[tasks.only]
kind = "shell"
command = "true"
"#;

#[tokio::test]
async fn catchup_runs_every_missed_interval_then_waits() {
    let h = harness(&[("daily.toml", DAILY_CATCHUP)], "2024-01-04T12:00:00Z");
    h.settle().await;
    let runs = h.runs("daily");
    let ids: Vec<&str> = runs.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "scheduled__2024-01-01T00:00:00+00:00",
            "scheduled__2024-01-02T00:00:00+00:00",
            "scheduled__2024-01-03T00:00:00+00:00",
        ]
    );
    assert!(
        runs.iter().all(|(_, s)| *s == RunState::Success),
        "{runs:?}"
    );
    // The next interval [01-04, 01-05) fires at 01-05, not before.
    h.advance_minutes(11 * 60 + 59);
    h.settle().await;
    assert_eq!(h.runs("daily").len(), 3);
    h.advance_minutes(1);
    h.settle().await;
    assert_eq!(h.runs("daily").len(), 4);
}

#[tokio::test]
async fn catchup_off_runs_only_the_latest_interval() {
    let text = DAILY_CATCHUP.replace("catchup = true", "catchup = false");
    let h = harness(&[("daily.toml", &text)], "2024-01-04T12:00:00Z");
    h.settle().await;
    let runs = h.runs("daily");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].0, "scheduled__2024-01-03T00:00:00+00:00");
    let next = h
        .sched
        .dag("daily")
        .unwrap_or_else(|e| panic!("{e}"))
        .summary
        .next_dagrun;
    assert_eq!(next.map(|n| n.run_after), Some(super::at("2024-01-05")));
}

#[tokio::test]
async fn start_and_end_dates_bound_the_runs() {
    let text = DAILY_CATCHUP.replace(
        "start_date = 2024-01-01",
        "start_date = 2024-02-01\nend_date = 2024-02-02",
    );
    let h = harness(&[("daily.toml", &text)], "2024-01-20T00:00:00Z");
    h.settle().await;
    assert!(h.runs("daily").is_empty(), "nothing before start_date");
    h.clock.set(super::at("2024-03-01"));
    h.settle().await;
    let runs = h.runs("daily");
    let ids: Vec<&str> = runs.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "scheduled__2024-02-01T00:00:00+00:00",
            "scheduled__2024-02-02T00:00:00+00:00"
        ],
        "no interval starting after end_date"
    );
}

#[tokio::test]
async fn paused_dags_get_no_scheduled_runs_but_run_when_triggered() {
    let text = format!("is_paused_upon_creation = true\n{DAILY_CATCHUP}");
    let h = harness(&[("daily.toml", &text)], "2024-01-04T12:00:00Z");
    h.settle().await;
    assert!(h.runs("daily").is_empty());
    let run = h.trigger("daily");
    h.settle().await;
    assert_eq!(h.runs("daily"), vec![(run.run_id, RunState::Success)]);
    h.sched
        .set_paused("daily", false)
        .unwrap_or_else(|e| panic!("{e}"));
    h.settle().await;
    assert_eq!(
        h.runs("daily").len(),
        4,
        "the manual run plus three scheduled"
    );
}

const CHAIN: &str = r#"
[tasks.a]
kind = "shell"
command = "true"
[tasks.b]
kind = "shell"
command = "true"
upstream = ["a"]
[tasks.c]
kind = "shell"
command = "true"
upstream = ["b"]
[tasks.cleanup]
kind = "shell"
command = "true"
upstream = ["c"]
trigger_rule = "all_done"
"#;

#[tokio::test]
async fn a_failure_marks_downstream_upstream_failed_and_fails_the_run() {
    let h = harness(&[("chain.toml", CHAIN)], "2024-01-01T00:00:00Z");
    h.env.script("b", &[Step::Fail]);
    let run = h.trigger("chain");
    h.settle().await;
    let s = h.states("chain", &run.run_id);
    assert_eq!(s["a"], Some(TaskState::Success));
    assert_eq!(s["b"], Some(TaskState::Failed));
    assert_eq!(s["c"], Some(TaskState::UpstreamFailed));
    assert_eq!(
        s["cleanup"],
        Some(TaskState::Success),
        "all_done runs anyway"
    );
    assert_eq!(h.env.tries_of("c"), 0);
    // The leaf (cleanup) succeeded, so like Airflow the run succeeds; without it, it fails.
    assert_eq!(
        h.runs("chain"),
        vec![(run.run_id.clone(), RunState::Success)]
    );
    let without_cleanup = CHAIN
        .split("[tasks.cleanup]")
        .next()
        .unwrap_or_default()
        .to_string();
    let h = harness(&[("chain.toml", &without_cleanup)], "2024-01-01T00:00:00Z");
    h.env.script("a", &[Step::Fail]);
    let run = h.trigger("chain");
    h.settle().await;
    let s = h.states("chain", &run.run_id);
    assert_eq!(
        (s["b"], s["c"]),
        (
            Some(TaskState::UpstreamFailed),
            Some(TaskState::UpstreamFailed)
        )
    );
    assert_eq!(h.runs("chain"), vec![(run.run_id, RunState::Failed)]);
}

#[tokio::test]
async fn a_skip_skips_downstream_and_the_run_succeeds() {
    let h = harness(&[("chain.toml", CHAIN)], "2024-01-01T00:00:00Z");
    h.env.script("a", &[Step::Skip]);
    let run = h.trigger("chain");
    h.settle().await;
    let s = h.states("chain", &run.run_id);
    assert_eq!(
        (s["a"], s["b"], s["c"]),
        (
            Some(TaskState::Skipped),
            Some(TaskState::Skipped),
            Some(TaskState::Skipped)
        )
    );
    assert_eq!(h.runs("chain"), vec![(run.run_id, RunState::Success)]);
}

const RETRY: &str = r#"
[tasks.flaky]
kind = "shell"
command = "true"
retries = 2
retry_delay = "5m"
[tasks.after]
kind = "shell"
command = "true"
upstream = ["flaky"]
"#;

#[tokio::test]
async fn retries_wait_for_their_delay() {
    let h = harness(&[("retry.toml", RETRY)], "2024-01-01T00:00:00Z");
    h.env
        .script("flaky", &[Step::Fail, Step::Fail, Step::Succeed]);
    let run = h.trigger("retry");
    h.settle().await;
    let flaky = |h: &super::Harness| {
        h.tis("retry", &run.run_id)
            .into_iter()
            .find(|t| t.task_id == "flaky")
            .unwrap_or_else(|| panic!("flaky"))
    };
    let ti = flaky(&h);
    assert_eq!((ti.state, ti.try_number), (Some(TaskState::UpForRetry), 1));
    assert_eq!(ti.next_try_at, Some(super::at("2024-01-01T00:05:00Z")));
    h.advance_minutes(4);
    h.settle().await;
    assert_eq!(flaky(&h).try_number, 1, "not before retry_delay");
    h.advance_minutes(1);
    h.settle().await;
    assert_eq!(
        (flaky(&h).state, flaky(&h).try_number),
        (Some(TaskState::UpForRetry), 2)
    );
    h.advance_minutes(5);
    h.settle().await;
    assert_eq!(
        (flaky(&h).state, flaky(&h).try_number),
        (Some(TaskState::Success), 3)
    );
    assert_eq!(
        h.runs("retry"),
        vec![(run.run_id.clone(), RunState::Success)]
    );
    for try_number in 1..=3 {
        let log = h.log("retry", &run.run_id, "flaky", try_number);
        assert!(
            log.contains(&format!("starting try {try_number} of 3")),
            "{}",
            log
        );
    }
    let first = h.log("retry", &run.run_id, "flaky", 1);
    assert!(
        first.contains("scripted failure") && first.contains("up_for_retry"),
        "{}",
        first
    );
    assert!(h.sched.task_log("retry", &run.run_id, "flaky", 4).is_err());
}

#[tokio::test]
async fn execution_timeout_cancels_and_fails_the_try() {
    let text = "[tasks.slow]\nkind = \"shell\"\ncommand = \"true\"\nexecution_timeout = \"10m\"\n";
    let h = harness(&[("slow.toml", text)], "2024-01-01T00:00:00Z");
    h.env.script("slow", &[Step::Hang]);
    let run = h.trigger("slow");
    h.tick().await;
    assert_eq!(
        h.states("slow", &run.run_id)["slow"],
        Some(TaskState::Running)
    );
    h.advance_minutes(9);
    h.tick().await;
    assert_eq!(
        h.states("slow", &run.run_id)["slow"],
        Some(TaskState::Running)
    );
    h.advance_minutes(1);
    h.tick().await;
    h.tick().await;
    assert_eq!(
        h.states("slow", &run.run_id)["slow"],
        Some(TaskState::Failed)
    );
    assert_eq!(h.runs("slow"), vec![(run.run_id.clone(), RunState::Failed)]);
    let log = h.log("slow", &run.run_id, "slow", 1);
    assert!(log.contains("execution_timeout"), "{}", log);
}

#[tokio::test]
async fn max_active_runs_holds_runs_in_queued() {
    let text = "max_active_runs = 1\n[tasks.t]\nkind = \"shell\"\ncommand = \"true\"\n";
    let h = harness(&[("one.toml", text)], "2024-01-01T00:00:00Z");
    h.env.script("t", &[Step::Hang]);
    let first = h.trigger("one");
    h.advance_minutes(1);
    let second = h.trigger("one");
    h.tick().await;
    h.tick().await;
    assert_eq!(
        h.runs("one"),
        vec![
            (first.run_id.clone(), RunState::Running),
            (second.run_id.clone(), RunState::Queued)
        ]
    );
    assert_eq!(h.env.tries_of("t"), 1);
}

#[tokio::test]
async fn trigger_conf_overrides_params() {
    let text =
        "[params]\nsize = 1\nname = \"x\"\n[tasks.t]\nkind = \"shell\"\ncommand = \"true\"\n";
    let h = harness(&[("conf.toml", text)], "2024-01-01T00:00:00Z");
    let run = h
        .sched
        .trigger("conf", Some(serde_json::json!({"size": 5})))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.conf, serde_json::json!({"size": 5}));
    h.settle().await;
    let calls = h.env.calls.lock().map(|c| c.clone()).unwrap_or_default();
    let conf = calls.iter().find(|c| c.0 == "conf").map(|c| c.3.clone());
    assert_eq!(conf, Some(serde_json::json!({"size": 5, "name": "x"})));
    assert!(
        h.sched
            .trigger("conf", Some(serde_json::json!([1])))
            .is_err(),
        "conf must be an object"
    );
    assert!(h.sched.trigger("nope", None).is_err());
}

#[tokio::test]
async fn the_builtin_dag_is_the_seeds() {
    let h = harness(&[], "2024-06-15T08:00:00Z");
    let dag = h
        .sched
        .dag("user_automation")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dag.summary.schedule, "@daily");
    assert!(!dag.summary.catchup);
    let ids: Vec<&str> = dag.tasks.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(ids, ["stream_data_from_api"]);
    assert!(
        matches!(&dag.tasks[0].kind, crate::scheduler::task::TaskKind::Produce(p)
        if p.duration == Some(std::time::Duration::from_secs(60)))
    );
    h.sched
        .set_paused("user_automation", false)
        .unwrap_or_else(|e| panic!("{e}"));
    h.settle().await;
    // Catchup off: only yesterday's interval runs, once.
    let runs = h.runs("user_automation");
    assert_eq!(
        runs,
        vec![(
            "scheduled__2024-06-14T00:00:00+00:00".to_string(),
            RunState::Success
        )]
    );
}
