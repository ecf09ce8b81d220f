//! Restart after a crash: tries left `running` in SQLite are marked failed (or up for retry
//! while retries remain) by the next scheduler, and their runs continue by the usual rules.

use super::{harness, open, ScriptedEnv, Step};
use crate::scheduler::{RunState, TaskState};
use std::sync::Arc;

const TWO_STEPS: &str = r#"
[params]
k = "default"
[tasks.first]
kind = "shell"
command = "true"
retries = 1
retry_delay = "1m"
[tasks.second]
kind = "shell"
command = "true"
upstream = ["first"]
[tasks.third]
kind = "shell"
command = "true"
upstream = ["second"]
"#;

#[tokio::test]
async fn running_tries_are_retried_or_failed_after_a_crash() {
    let h = harness(&[("two.toml", TWO_STEPS)], "2024-01-01T00:00:00Z");
    h.env.script("first", &[Step::Hang]);
    let run = h.trigger("two");
    h.tick().await;
    assert_eq!(
        h.states("two", &run.run_id)["first"],
        Some(TaskState::Running)
    );
    // Let the try print, and a pass store its log so far (as the loop does every poll).
    tokio::task::yield_now().await;
    h.tick().await;

    // "Crash": the old scheduler is gone without a shutdown; a new one opens the same file.
    let clock = h.clock.clone();
    let env = Arc::new(ScriptedEnv::default());
    env.script("second", &[Step::Hang]);
    let reopened = open(&h.dir, clock.clone(), env.clone());
    assert_eq!(reopened.recover().unwrap_or_else(|e| panic!("{e}")), 1);
    let tis = reopened
        .task_instances("two", &run.run_id)
        .unwrap_or_else(|e| panic!("{e}"));
    let first = tis
        .iter()
        .find(|t| t.task_id == "first")
        .unwrap_or_else(|| panic!("first"));
    assert_eq!(
        (first.state, first.try_number),
        (Some(TaskState::UpForRetry), 1)
    );
    let log = reopened
        .task_log("two", &run.run_id, "first", 1)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        log.content.contains("scripted step Hang"),
        "the log before the crash is kept: {}",
        log.content
    );
    assert!(log.content.contains("scheduler stopped"), "{}", log.content);

    // The retry runs after its delay and the run goes on; `second` is left running.
    clock.advance(chrono::Duration::minutes(1));
    reopened.tick().await.unwrap_or_else(|e| panic!("{e}"));
    reopened.wait_for_completion().await;
    reopened.tick().await.unwrap_or_else(|e| panic!("{e}"));
    let state = |s: &crate::scheduler::Scheduler, task: &str| {
        s.task_instances("two", &run.run_id)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .find(|t| t.task_id == task)
            .and_then(|t| t.state)
    };
    assert_eq!(state(&reopened, "first"), Some(TaskState::Success));
    assert_eq!(state(&reopened, "second"), Some(TaskState::Running));

    // Second crash: `second` has no retries left, so it fails and `third` is upstream_failed.
    let third_env = Arc::new(ScriptedEnv::default());
    let again = open(&h.dir, clock, third_env.clone());
    assert_eq!(again.recover().unwrap_or_else(|e| panic!("{e}")), 1);
    again.settle().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state(&again, "second"), Some(TaskState::Failed));
    assert_eq!(state(&again, "third"), Some(TaskState::UpstreamFailed));
    assert_eq!(third_env.tries_of("third"), 0);
    let runs = again.runs("two", 10).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(runs[0].state, RunState::Failed);
}

#[tokio::test]
async fn runs_and_pause_flags_survive_a_restart() {
    let h = harness(&[("two.toml", TWO_STEPS)], "2024-01-01T00:00:00Z");
    let run = h
        .sched
        .trigger("two", Some(serde_json::json!({"k": "v"})))
        .unwrap_or_else(|e| panic!("{e}"));
    h.settle().await;
    h.sched
        .set_paused("two", true)
        .unwrap_or_else(|e| panic!("{e}"));
    let reopened = open(&h.dir, h.clock.clone(), Arc::new(ScriptedEnv::default()));
    let runs = reopened.runs("two", 10).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].run_id.as_str(), runs[0].state),
        (run.run_id.as_str(), RunState::Success)
    );
    assert_eq!(runs[0].conf, serde_json::json!({"k": "v"}));
    let dag = reopened.dag("two").unwrap_or_else(|e| panic!("{e}"));
    assert!(dag.summary.is_paused);
}
