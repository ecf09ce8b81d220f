//! A scheduler's `shell` task does not inherit cassflow's secrets from the environment
//! (`CASSFLOW_WEB__PASSWORD` and the like), but does get the other `CASSFLOW_*` variables
//! and what the task's own `env` names. Its own test binary: it sets variables in this
//! process's environment, which no other test may see.

use cassflow::config::{Config, SchedulerConfig};
use cassflow::scheduler::clock::SystemClock;
use cassflow::scheduler::live::LiveEnv;
use cassflow::scheduler::{RunState, Scheduler};
use std::sync::Arc;
use std::time::Duration;

const DAG: &str = r#"
[tasks.show]
kind = "shell"
command = "echo \"web=[$CASSFLOW_WEB__PASSWORD] token=[$CASSFLOW_WEB__API_TOKEN] cass=[$CASSFLOW_CASSANDRA__PASSWORD] bootstrap=[$CASSFLOW_KAFKA__BOOTSTRAP] own=[$OWN_SECRET]\""
env = { OWN_SECRET = "given-by-the-task" }
"#;

#[tokio::test]
async fn a_shell_task_does_not_see_cassflows_secrets() {
    std::env::set_var("CASSFLOW_WEB__PASSWORD", "web-secret-1");
    std::env::set_var("CASSFLOW_WEB__API_TOKEN", "token-secret-2");
    std::env::set_var("CASSFLOW_CASSANDRA__PASSWORD", "cass-secret-3");
    std::env::set_var("CASSFLOW_KAFKA__BOOTSTRAP", "127.0.0.1:1");
    let dir = tempfile::tempdir().expect("tempdir");
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags).expect("dags dir");
    std::fs::write(dags.join("show.toml"), DAG).expect("dag file");
    let config = SchedulerConfig {
        dags_dir: dags,
        ..SchedulerConfig::default()
    };
    let s = Scheduler::open(
        &config,
        dir.path().join("db.sqlite"),
        Arc::new(SystemClock),
        Arc::new(LiveEnv::new(Config::default())),
    )
    .expect("open scheduler");
    s.set_paused("user_automation", true).expect("pause");
    let run = s.trigger("show", None).expect("trigger");
    tokio::time::timeout(Duration::from_secs(120), s.settle())
        .await
        .expect("the run finishes")
        .expect("scheduler passes");
    assert_eq!(
        s.run_info("show", &run.run_id).expect("run").state,
        RunState::Success
    );
    let log = s
        .task_log("show", &run.run_id, "show", 1)
        .expect("log")
        .content;
    assert!(
        log.contains("web=[] token=[] cass=[] bootstrap=[127.0.0.1:1] own=[given-by-the-task]"),
        "{log}"
    );
    for secret in ["web-secret-1", "token-secret-2", "cass-secret-3"] {
        assert!(!log.contains(secret), "{secret} in {log}");
    }
}
