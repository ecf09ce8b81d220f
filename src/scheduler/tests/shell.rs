//! The live `shell` task kind on a real `sh`: output captured into the try's log, exit 99
//! skips, other non-zero exits fail, and a timeout kills the command.

use super::at;
use crate::config::{Config, SchedulerConfig};
use crate::scheduler::clock::ManualClock;
use crate::scheduler::live::LiveEnv;
use crate::scheduler::{RunState, Scheduler, TaskState};
use std::sync::Arc;

fn live(files: &[(&str, &str)]) -> (Scheduler, Arc<ManualClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).unwrap_or_else(|e| panic!("{e}"));
    for (name, text) in files {
        std::fs::write(dags.join(name), text).unwrap_or_else(|e| panic!("{e}"));
    }
    let clock = Arc::new(ManualClock::new(at("2024-01-01T00:00:00Z")));
    let config = SchedulerConfig {
        dags_dir: dags,
        ..SchedulerConfig::default()
    };
    let env = Arc::new(LiveEnv::new(Config::default()));
    let sched = Scheduler::open(&config, dir.path().join("db.sqlite"), clock.clone(), env)
        .unwrap_or_else(|e| panic!("{e}"));
    // The built-in DAG would produce to Kafka: keep it out of these tests.
    sched
        .set_paused("user_automation", true)
        .unwrap_or_else(|e| panic!("{e}"));
    (sched, clock, dir)
}

const SHELL: &str = r#"
[params]
who = "world"
[tasks.hello]
kind = "shell"
command = "echo \"hello $GREETING from $CASSFLOW_TASK_ID try $CASSFLOW_TRY_NUMBER\"; echo oops >&2; echo \"$CASSFLOW_CONF\""
env = { GREETING = "hi" }
[tasks.skipper]
kind = "shell"
command = "exit 99"
upstream = ["hello"]
[tasks.after_skip]
kind = "shell"
command = "true"
upstream = ["skipper"]
[tasks.broken]
kind = "shell"
command = "echo before; exit 3"
upstream = ["hello"]
"#;

#[tokio::test]
async fn shell_output_exit_codes_and_states() {
    let (sched, _clock, _dir) = live(&[("sh.toml", SHELL)]);
    let run = sched.trigger("sh", None).unwrap_or_else(|e| panic!("{e}"));
    sched.settle().await.unwrap_or_else(|e| panic!("{e}"));
    let states: std::collections::HashMap<_, _> = sched
        .task_instances("sh", &run.run_id)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|t| (t.task_id, t.state))
        .collect();
    assert_eq!(states["hello"], Some(TaskState::Success));
    assert_eq!(states["skipper"], Some(TaskState::Skipped));
    assert_eq!(states["after_skip"], Some(TaskState::Skipped));
    assert_eq!(states["broken"], Some(TaskState::Failed));
    let run_state = sched.run_info("sh", &run.run_id).map(|r| r.state).ok();
    assert_eq!(run_state, Some(RunState::Failed));
    let log = sched
        .task_log("sh", &run.run_id, "hello", 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .content;
    assert!(log.contains("hello hi from hello try 1"), "{log}");
    assert!(log.contains("stderr: oops"), "{log}");
    assert!(log.contains(r#"{"who":"world"}"#), "{log}");
    let broken = sched
        .task_log("sh", &run.run_id, "broken", 1)
        .unwrap_or_else(|e| panic!("{e}"))
        .content;
    assert!(
        broken.contains("before") && broken.contains("exited with 3"),
        "{broken}"
    );
}

/// Whether a process is gone (or a zombie waiting to be reaped).
fn is_dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

#[tokio::test]
async fn a_timed_out_command_is_killed() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pidfile = dir.path().join("pid");
    let text = format!(
        "[tasks.slow]\nkind = \"shell\"\ncommand = \"sleep 600 & echo $! > {}; wait\"\nexecution_timeout = \"1m\"\n",
        pidfile.display()
    );
    let (sched, clock, _dags) = live(&[("slow.toml", &text)]);
    let run = sched
        .trigger("slow", None)
        .unwrap_or_else(|e| panic!("{e}"));
    sched.tick().await.unwrap_or_else(|e| panic!("{e}"));
    // Wait (bounded) until the command has started its child.
    let mut pid = String::new();
    for _ in 0..200 {
        pid = std::fs::read_to_string(&pidfile)
            .unwrap_or_default()
            .trim()
            .to_string();
        if !pid.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        !pid.is_empty() && !is_dead(&pid),
        "the command runs `sleep` (pid {pid:?})"
    );
    clock.advance(chrono::Duration::minutes(2));
    sched.tick().await.unwrap_or_else(|e| panic!("{e}"));
    let state = sched.run_info("slow", &run.run_id).map(|r| r.state).ok();
    assert_eq!(state, Some(RunState::Failed));
    // The whole process group got SIGKILL, the background `sleep` included.
    let mut dead = false;
    for _ in 0..200 {
        dead = is_dead(&pid);
        if dead {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(dead, "sleep {pid} still runs after the timeout");
}

/// A command that fills stderr (more than a pipe holds) while stdout stays open must not
/// hang: both pipes are read at once.
#[tokio::test]
async fn a_command_writing_lots_to_stderr_finishes() {
    let text = "[tasks.chatty]\nkind = \"shell\"\ncommand = \"i=0; while [ $i -lt 4000 ]; do echo 'line of stderr output, long enough to fill the pipe' >&2; i=$((i+1)); done; echo done\"\n";
    let (sched, _clock, _dir) = live(&[("chatty.toml", text)]);
    let run = sched
        .trigger("chatty", None)
        .unwrap_or_else(|e| panic!("{e}"));
    // Bounded: a hang is the failure this test is about.
    tokio::time::timeout(std::time::Duration::from_secs(120), sched.settle())
        .await
        .unwrap_or_else(|_| panic!("the chatty command hung"))
        .unwrap_or_else(|e| panic!("{e}"));
    let state = sched.run_info("chatty", &run.run_id).map(|r| r.state).ok();
    assert_eq!(state, Some(RunState::Success));
}
