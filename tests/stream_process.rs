//! `cassflow stream` as a process under load: killed with SIGKILL mid-load and restarted, or
//! stopped with SIGTERM (exit 0, offsets committed) and restarted, the set of ids in
//! Cassandra ends equal to the set produced.

mod common;

use cassflow::config::{Config, PipelineConfig};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn write_config(dir: &Path, config: &Config, p: &PipelineConfig) -> std::path::PathBuf {
    let mut config = config.clone();
    config.stream.shutdown_timeout = Duration::from_secs(20);
    common::write_config(dir, &config, std::slice::from_ref(p))
}

fn start_stream(dir: &Path, file: &Path) -> Child {
    Command::new(common::cassflow_bin())
        .arg("--config")
        .arg(file)
        .arg("stream")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cassflow stream")
}

async fn ids_in_table(config: &Config, p: &PipelineConfig) -> HashSet<uuid::Uuid> {
    let session = common::session(config).await;
    common::read_users(&session, &p.keyspace, &p.table)
        .await
        .into_keys()
        .collect()
}

/// Waits until at least `n` rows are written, polling often so we catch the load mid-way.
async fn wait_for_some_rows(config: &Config, p: &PipelineConfig, n: i64) -> i64 {
    let session = common::session(config).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let count = common::count_rows(&session, &p.keyspace, &p.table).await;
        if count >= n || tokio::time::Instant::now() > deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_loses_no_record() {
    let config = common::stack().await;
    let pipeline = common::users_pipeline("kill9");
    let records = common::users(100_000, "kill9");
    common::produce(&config, &pipeline.topic, &records).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_config(dir.path(), &config, &pipeline);

    let mut first = start_stream(dir.path(), &file);
    let at_kill = wait_for_some_rows(&config, &pipeline, 10_000).await;
    kill(Pid::from_raw(first.id() as i32), Signal::SIGKILL).expect("SIGKILL");
    let _ = first.wait();
    assert!(
        at_kill >= 10_000,
        "the stream was writing before the kill ({at_kill})"
    );
    let after_kill = common::count_rows(
        &common::session(&config).await,
        &pipeline.keyspace,
        &pipeline.table,
    )
    .await;
    assert!(
        after_kill < 100_000,
        "killed mid-load, not after it ({after_kill} rows)"
    );

    let mut second = start_stream(dir.path(), &file);
    let session = common::session(&config).await;
    let count = common::wait_for_rows(
        &session,
        &pipeline.keyspace,
        &pipeline.table,
        100_000,
        Duration::from_secs(300),
    )
    .await;
    kill(Pid::from_raw(second.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let status = second.wait().expect("wait");
    assert_eq!(count, 100_000);
    assert_eq!(status.code(), Some(0));
    let want: HashSet<uuid::Uuid> = records.iter().map(|r| r.id).collect();
    assert_eq!(ids_in_table(&config, &pipeline).await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_load_exits_0_commits_and_resumes() {
    let config = common::stack().await;
    let pipeline = common::users_pipeline("term");
    let records = common::users(100_000, "term");
    common::produce(&config, &pipeline.topic, &records).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_config(dir.path(), &config, &pipeline);

    let first = start_stream(dir.path(), &file);
    wait_for_some_rows(&config, &pipeline, 10_000).await;
    kill(Pid::from_raw(first.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let out = first.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "graceful stop exits 0");
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let written_first = figure(&summary, "written");
    assert!(summary.contains("abandoned in flight 0"), "{summary}");

    let second = start_stream(dir.path(), &file);
    let session = common::session(&config).await;
    let count = common::wait_for_rows(
        &session,
        &pipeline.keyspace,
        &pipeline.table,
        100_000,
        Duration::from_secs(300),
    )
    .await;
    kill(Pid::from_raw(second.id() as i32), Signal::SIGTERM).expect("SIGTERM");
    let out = second.wait_with_output().expect("wait");
    assert_eq!(count, 100_000);
    assert_eq!(out.status.code(), Some(0));
    let consumed_second = figure(&String::from_utf8_lossy(&out.stdout), "consumed");
    // The restart resumed exactly after what the first run wrote: its offsets were
    // committed on shutdown, so nothing written was read again and nothing was skipped.
    assert_eq!(
        written_first + consumed_second,
        100_000,
        "first wrote {written_first}, second consumed {consumed_second}"
    );
    let want: HashSet<uuid::Uuid> = records.iter().map(|r| r.id).collect();
    assert_eq!(ids_in_table(&config, &pipeline).await, want);
}

/// A figure (`consumed N`, `written N`) of a stream summary line.
fn figure(summary: &str, name: &str) -> u64 {
    summary
        .split(&format!("{name} "))
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no summary line in {summary:?}"))
}
